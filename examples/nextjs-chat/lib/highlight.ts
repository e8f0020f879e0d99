// Syntax highlighting for code fences with shiki's fine-grained bundle: the core, the
// JavaScript regex engine (no WebAssembly) and only the grammars below, each loaded the first
// time a block needs it. Nothing here is in any page's first load: components/code-block.tsx
// imports this module on demand.
import { createHighlighterCore, type HighlighterCore, type ThemedToken } from "shiki/core";
import { createJavaScriptRegexEngine } from "shiki/engine/javascript";

const GRAMMARS: Record<string, () => Promise<unknown>> = {
  bash: () => import("@shikijs/langs/bash"),
  css: () => import("@shikijs/langs/css"),
  diff: () => import("@shikijs/langs/diff"),
  go: () => import("@shikijs/langs/go"),
  html: () => import("@shikijs/langs/html"),
  javascript: () => import("@shikijs/langs/javascript"),
  json: () => import("@shikijs/langs/json"),
  jsx: () => import("@shikijs/langs/jsx"),
  markdown: () => import("@shikijs/langs/markdown"),
  python: () => import("@shikijs/langs/python"),
  rust: () => import("@shikijs/langs/rust"),
  sql: () => import("@shikijs/langs/sql"),
  tsx: () => import("@shikijs/langs/tsx"),
  typescript: () => import("@shikijs/langs/typescript"),
  yaml: () => import("@shikijs/langs/yaml"),
};
const ALIASES: Record<string, string> = {
  js: "javascript", ts: "typescript", py: "python", sh: "bash", shell: "bash", zsh: "bash",
  console: "bash", yml: "yaml", md: "markdown", rs: "rust", golang: "go",
};
// High-contrast variants: their colours pass WCAG AA on the code background, light and dark.
const THEMES = { light: "github-light-high-contrast", dark: "github-dark-high-contrast" };

let highlighter: Promise<HighlighterCore> | null = null;

function getHighlighter(): Promise<HighlighterCore> {
  highlighter ??= createHighlighterCore({
    themes: [
      import("@shikijs/themes/github-light-high-contrast"),
      import("@shikijs/themes/github-dark-high-contrast"),
    ],
    langs: [],
    engine: createJavaScriptRegexEngine(),
  });
  return highlighter;
}

/** The lines of `code` as coloured tokens (CSS variables --shiki-light and --shiki-dark), or
 * null for a language without a grammar here (the block then stays plain). */
export async function highlight(code: string, language: string): Promise<ThemedToken[][] | null> {
  const name = ALIASES[language.toLowerCase()] ?? language.toLowerCase();
  const grammar = GRAMMARS[name];
  if (!grammar) return null;
  const shiki = await getHighlighter();
  if (!shiki.getLoadedLanguages().includes(name)) {
    await shiki.loadLanguage((await grammar()) as Parameters<HighlighterCore["loadLanguage"]>[0]);
  }
  return shiki.codeToTokens(code, { lang: name, themes: THEMES, defaultColor: false }).tokens;
}
