"use client";
// A message as GitHub-flavoured markdown. Raw HTML in a message is never parsed into elements
// (react-markdown escapes it without rehype-raw) and rehype-sanitize drops what is left unsafe,
// such as `javascript:` links; code fences are highlighted and get a Copy button (CodeBlock).
import { memo } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import rehypeSanitize from "rehype-sanitize";
import remarkGfm from "remark-gfm";

import { CodeBlock } from "./code-block";

const components: Components = {
  pre({ node }) {
    const code = node?.children[0];
    const text =
      code && "children" in code
        ? code.children.map((child) => ("value" in child ? child.value : "")).join("")
        : "";
    // rehype-sanitize keeps only `language-*` classes on code.
    const classes = code && "properties" in code ? code.properties?.className : undefined;
    const language = Array.isArray(classes)
      ? (classes.map(String).find((name) => name.startsWith("language-"))?.slice(9) ?? null)
      : null;
    return <CodeBlock code={text.replace(/\n$/, "")} language={language} />;
  },
  a({ children, href }) {
    return (
      <a href={href} target="_blank" rel="noreferrer noopener">
        {children}
      </a>
    );
  },
};

export const Markdown = memo(function Markdown({ text }: { text: string }) {
  return (
    <ReactMarkdown remarkPlugins={[remarkGfm]} rehypePlugins={[rehypeSanitize]} components={components}>
      {text}
    </ReactMarkdown>
  );
});
