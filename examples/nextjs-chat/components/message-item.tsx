"use client";
import { getToolName, isFileUIPart, isReasoningUIPart, isToolUIPart, type FileUIPart } from "ai";
import { useState } from "react";

import type { ChatMessage } from "./chat";
import { CopyButton } from "./copy-button";
import { Markdown } from "./markdown";
import { usePromptkit } from "./session";

type Part = ChatMessage["parts"][number];
type ToolPart = Extract<Part, { toolCallId: string }>;

export function MessageItem({ message, onRegenerate, onEdit, onVersion }: {
  message: ChatMessage;
  onRegenerate?: () => void;
  /** Sends a new version of this user message. */
  onEdit?: (text: string) => void;
  /** Shows the version before (-1) or after (1) this one. */
  onVersion?: (step: -1 | 1) => void;
}) {
  const text = message.parts.map((part) => (part.type === "text" ? part.text : "")).join("");
  const status = message.metadata?.status;
  const files = message.parts.filter(isFileUIPart);
  const branch = message.metadata?.branch;
  const [editing, setEditing] = useState<string | null>(null);
  function save() {
    if (editing === null || !editing.trim()) return;
    onEdit?.(editing);
    setEditing(null);
  }
  return (
    <li data-testid="message" data-role={message.role} data-status={status} className={message.role}>
      <span className="who">{message.role === "user" ? "You" : "Assistant"}</span>
      <div className="text">
        {editing !== null ? (
          <form
            className="edit-message"
            aria-label="Edit message"
            onSubmit={(event) => {
              event.preventDefault();
              save();
            }}
          >
            <textarea
              aria-label="Edited message"
              value={editing}
              autoFocus
              rows={Math.min(8, editing.split("\n").length + 1)}
              onChange={(event) => setEditing(event.target.value)}
              onKeyDown={(event) => {
                if (event.key === "Escape") setEditing(null);
                if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
                  event.preventDefault();
                  save();
                }
              }}
            />
            <div className="edit-actions">
              <button type="submit" disabled={!editing.trim()}>
                Save
              </button>
              <button type="button" className="ghost" onClick={() => setEditing(null)}>
                Cancel
              </button>
            </div>
          </form>
        ) : message.role === "user" ? (
          <p className="plain">{text}</p>
        ) : (
          <AssistantParts parts={message.parts} />
        )}
        {files.length > 0 && (
          <ul className="chips" aria-label="Files">
            {files.map((file, index) => (
              <FileChip key={index} file={file} />
            ))}
          </ul>
        )}
      </div>
      <div className="actions">
        {branch && branch.count > 1 && (
          <span className="message-versions small" data-testid="versions">
            <button
              type="button"
              className="ghost small"
              aria-label="Previous version"
              disabled={!onVersion || branch.index <= 1}
              onClick={() => onVersion?.(-1)}
            >
              ‹
            </button>
            <span data-testid="version">
              {branch.index}/{branch.count}
            </span>
            <button
              type="button"
              className="ghost small"
              aria-label="Next version"
              disabled={!onVersion || branch.index >= branch.count}
              onClick={() => onVersion?.(1)}
            >
              ›
            </button>
          </span>
        )}
        {onEdit && editing === null && (
          <button type="button" className="ghost small" onClick={() => setEditing(text)}>
            Edit
          </button>
        )}
        {status === "partial" && <span className="muted small">Stopped</span>}
        {status === "error" && <span className="muted small">Cut short by an error</span>}
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

/** A reply's parts in order: text as markdown, reasoning and tool calls as collapsible blocks.
 * A reply of text parts alone renders as one markdown text, as it always did. */
function AssistantParts({ parts }: { parts: Part[] }) {
  if (parts.every((part) => part.type === "text" || part.type === "step-start")) {
    return <Markdown text={parts.map((part) => (part.type === "text" ? part.text : "")).join("")} />;
  }
  return (
    <>
      {parts.map((part, index) => {
        if (part.type === "text") return <Markdown key={index} text={part.text} />;
        if (isReasoningUIPart(part)) {
          return (
            <details key={index} className="part reasoning" data-testid="reasoning">
              <summary>Reasoning{part.state === "streaming" ? "…" : ""}</summary>
              <p className="plain muted">{part.text}</p>
            </details>
          );
        }
        if (isToolUIPart(part)) return <ToolCall key={part.toolCallId} part={part as ToolPart} />;
        return null; // step boundaries, data and files: nothing to show here
      })}
    </>
  );
}

const TOOL_STATES: Record<string, string> = {
  "input-streaming": "preparing",
  "input-available": "running",
  "output-available": "done",
  "output-error": "failed",
};

/** One tool call: its name and state; opened, its input and its output (or error). */
function ToolCall({ part }: { part: ToolPart }) {
  const name = getToolName(part);
  const state = TOOL_STATES[part.state] ?? part.state;
  return (
    <details className="part tool" data-testid="tool-call" data-tool={name} data-state={part.state}>
      <summary>
        Tool <code>{name}</code> <span className="muted small">{state}</span>
      </summary>
      {part.input !== undefined && (
        <>
          <p className="small muted">Input</p>
          <pre className="plain">{json(part.input)}</pre>
        </>
      )}
      {part.state === "output-available" && (
        <>
          <p className="small muted">Output</p>
          <pre className="plain" data-testid="tool-output">{json(part.output)}</pre>
        </>
      )}
      {part.state === "output-error" && <p role="status">{part.errorText}</p>}
    </details>
  );
}

function json(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

/** A file of a message: opens its bytes from promptkit (with the token) in a new tab. */
function FileChip({ file }: { file: FileUIPart }) {
  const { api } = usePromptkit();
  const [error, setError] = useState<string | null>(null);
  const name = file.filename ?? "file";

  async function open() {
    setError(null);
    // Opened before the fetch, or the popup blocker would refuse it (no click behind it then).
    const tab = window.open("", "_blank");
    try {
      const blob = await api.fileBlob(file.url);
      const url = URL.createObjectURL(new Blob([blob], { type: file.mediaType }));
      if (tab) tab.location.href = url;
      else window.location.assign(url);
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (caught) {
      tab?.close();
      setError(caught instanceof Error ? caught.message : String(caught));
    }
  }

  return (
    <li data-testid="message-file">
      <button type="button" className="ghost small file-link" onClick={() => void open()} title={file.mediaType}>
        {name}
      </button>
      {error && <span className="error small" role="alert">{error}</span>}
    </li>
  );
}
