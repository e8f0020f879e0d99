"use client";
// The message box: it grows with its text, Enter sends, Shift+Enter adds a line, and an IME
// composition never sends. The text lives in the parent so a failed send keeps it. Files are
// attached with the button or dropped on the box; the parent uploads them and shows them here.
import { useEffect, useRef, useState, type ReactNode } from "react";
import TextareaAutosize from "react-textarea-autosize";

import { ModelPicker } from "./model-picker";

/** A file attached to the message being written: uploading, uploaded (with its id), or failed. */
export type Attached = {
  key: string;
  filename: string;
  mediaType: string;
  size: number;
  fileId?: string;
  error?: string;
};

export function Composer({
  input, setInput, model, setModel, busy, onSend, onStop, status,
  attached = [], onAttach, onDetach,
}: {
  input: string;
  setInput: (text: string) => void;
  model: string;
  setModel: (model: string) => void;
  busy: boolean;
  onSend: () => void;
  onStop: () => void;
  /** Shown in the bar beside the model (the token budget). */
  status?: ReactNode;
  attached?: Attached[];
  /** Files picked or dropped; absent: no attaching here. */
  onAttach?: (files: File[]) => void;
  onDetach?: (key: string) => void;
}) {
  const box = useRef<HTMLTextAreaElement>(null);
  const picker = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);
  useEffect(() => box.current?.focus(), []);
  const uploading = attached.some((file) => !file.fileId && !file.error);

  function onKeyDown(event: React.KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key !== "Enter" || event.shiftKey || event.nativeEvent.isComposing) return;
    event.preventDefault();
    if (!busy) onSend();
  }

  return (
    <form
      className="composer"
      data-dragging={dragging || undefined}
      onSubmit={(event) => {
        event.preventDefault();
        if (!busy && !uploading) onSend();
      }}
      onDragOver={(event) => {
        if (!onAttach || !event.dataTransfer.types.includes("Files")) return;
        event.preventDefault(); // allows the drop
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(event) => {
        if (!onAttach) return;
        event.preventDefault();
        setDragging(false);
        const files = Array.from(event.dataTransfer.files);
        if (files.length) onAttach(files);
      }}
    >
      {attached.length > 0 && (
        <ul className="chips" aria-label="Attached files">
          {attached.map((file) => (
            <li key={file.key} className="chip" data-testid="attached-file" data-state={file.error ? "error" : file.fileId ? "ready" : "uploading"}>
              <span>{file.filename}</span>
              <span className="muted small">{file.error ?? (file.fileId ? formatSize(file.size) : "uploading…")}</span>
              {onDetach && (
                <button type="button" className="ghost small" aria-label={`Remove ${file.filename}`} onClick={() => onDetach(file.key)}>
                  ×
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      <label className="sr-only" htmlFor="composer-message">
        Message
      </label>
      <TextareaAutosize
        id="composer-message"
        ref={box}
        value={input}
        onChange={(event) => setInput(event.target.value)}
        onKeyDown={onKeyDown}
        minRows={1}
        maxRows={10}
        placeholder="Send a message…"
      />
      <div className="row composer-bar">
        {onAttach && (
          <>
            <input
              ref={picker}
              type="file"
              multiple
              hidden
              aria-label="Attach files"
              onChange={(event) => {
                const files = Array.from(event.target.files ?? []);
                event.target.value = ""; // the same file can be picked again
                if (files.length) onAttach(files);
              }}
            />
            <button type="button" className="ghost" onClick={() => picker.current?.click()}>
              Attach
            </button>
          </>
        )}
        <ModelPicker model={model} setModel={setModel} />
        {status}
        {busy ? (
          <button type="button" onClick={onStop}>
            Stop
          </button>
        ) : (
          <button type="submit" disabled={!input.trim() || uploading}>
            Send
          </button>
        )}
      </div>
    </form>
  );
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
