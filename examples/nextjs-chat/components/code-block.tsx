"use client";
// A fenced code block with a Copy button. It shows as plain text at once and is coloured by
// shiki once the highlighter and its grammar have loaded, on demand (lib/highlight.ts): the
// first token of a reply never waits for a grammar, and pages without code never load one.
// Tokens are rendered as React text, never as HTML.
import { useEffect, useState } from "react";
import type { ThemedToken } from "shiki/core";

import { CopyButton } from "./copy-button";

export function CodeBlock({ code, language }: { code: string; language: string | null }) {
  const [highlighted, setHighlighted] = useState<{ code: string; lines: ThemedToken[][] } | null>(null);
  useEffect(() => {
    if (!language) return;
    let current = true;
    import("@/lib/highlight")
      .then(({ highlight }) => highlight(code, language))
      .then(
        (lines) => current && lines && setHighlighted({ code, lines }),
        () => {}, // no colours: the plain text stays
      );
    return () => {
      current = false;
    };
  }, [code, language]);

  // While a reply streams, the colours of the text so far stay until the new ones are ready.
  const lines = highlighted && code.startsWith(highlighted.code) ? highlighted.lines : null;
  const rest = lines && highlighted ? code.slice(highlighted.code.length) : "";
  return (
    <div className="code-block" data-language={language ?? undefined} data-highlighted={lines ? "true" : undefined}>
      <CopyButton text={code} label="Copy code" />
      <pre>
        <code className={language ? `language-${language}` : undefined}>
          {lines
            ? lines.map((line, index) => (
                <span key={index} className="line">
                  {line.map((token, at) => (
                    <span key={at} className="token" style={token.htmlStyle as React.CSSProperties}>
                      {token.content}
                    </span>
                  ))}
                  {index < lines.length - 1 ? "\n" : ""}
                </span>
              ))
            : code}
          {rest}
        </code>
      </pre>
    </div>
  );
}
