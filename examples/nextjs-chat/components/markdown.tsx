"use client";
// A message as GitHub-flavoured markdown. Raw HTML in a message is never parsed into elements
// (react-markdown escapes it without rehype-raw) and rehype-sanitize drops what is left unsafe,
// such as `javascript:` links; code fences get a Copy button.
import { memo } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import rehypeSanitize from "rehype-sanitize";
import remarkGfm from "remark-gfm";

import { CopyButton } from "./copy-button";

const components: Components = {
  pre({ children, node }) {
    const code = node?.children[0];
    const text =
      code && "children" in code
        ? code.children.map((child) => ("value" in child ? child.value : "")).join("")
        : "";
    return (
      <div className="code-block">
        <CopyButton text={text} label="Copy code" />
        <pre>{children}</pre>
      </div>
    );
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
