"use client";
// The message box: it grows with its text, Enter sends, Shift+Enter adds a line, and an IME
// composition never sends. The text lives in the parent so a failed send keeps it.
import { useEffect, useRef, type ReactNode } from "react";
import TextareaAutosize from "react-textarea-autosize";

import { ModelPicker } from "./model-picker";

export function Composer({ input, setInput, model, setModel, busy, onSend, onStop, status }: {
  input: string;
  setInput: (text: string) => void;
  model: string;
  setModel: (model: string) => void;
  busy: boolean;
  onSend: () => void;
  onStop: () => void;
  /** Shown in the bar beside the model (the token budget); attachments go here too. */
  status?: ReactNode;
}) {
  const box = useRef<HTMLTextAreaElement>(null);
  useEffect(() => box.current?.focus(), []);

  function onKeyDown(event: React.KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key !== "Enter" || event.shiftKey || event.nativeEvent.isComposing) return;
    event.preventDefault();
    if (!busy) onSend();
  }

  return (
    <form
      className="composer"
      onSubmit={(event) => {
        event.preventDefault();
        if (!busy) onSend();
      }}
    >
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
        <ModelPicker model={model} setModel={setModel} />
        {status}
        {busy ? (
          <button type="button" onClick={onStop}>
            Stop
          </button>
        ) : (
          <button type="submit" disabled={!input.trim()}>
            Send
          </button>
        )}
      </div>
    </form>
  );
}
