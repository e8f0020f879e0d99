"use client";
import type { ChatMessage } from "./chat";
import { CopyButton } from "./copy-button";
import { Markdown } from "./markdown";

export function MessageItem({ message, onRegenerate }: {
  message: ChatMessage;
  onRegenerate?: () => void;
}) {
  const text = message.parts.map((part) => (part.type === "text" ? part.text : "")).join("");
  return (
    <li data-testid="message" data-role={message.role} className={message.role}>
      <span className="who">{message.role === "user" ? "You" : "Assistant"}</span>
      <div className="text">
        {message.role === "user" ? <p className="plain">{text}</p> : <Markdown text={text} />}
      </div>
      <div className="actions">
        {message.metadata?.model && <span className="muted small">{message.metadata.model}</span>}
        {message.metadata?.prompt && (
          <span className="muted small" data-testid="prompt-version" title={`Prompt ${message.metadata.prompt.id}`}>
            prompt v{message.metadata.prompt.version}
          </span>
        )}
        <CopyButton text={text} />
        {onRegenerate && (
          <button type="button" className="ghost small" onClick={onRegenerate}>
            Regenerate
          </button>
        )}
      </div>
    </li>
  );
}
