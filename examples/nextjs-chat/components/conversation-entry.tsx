"use client";
// One conversation in the sidebar with its options: Rename inline (Enter saves, Esc cancels)
// and Delete after a confirmation.
import Link from "next/link";
import { useState } from "react";

import type { Conversation } from "@/lib/promptkit";

import { usePromptkit } from "./session";
import { useAction } from "./use-load";

export function ConversationEntry({ conversation, current, onChange, onDeleted }: {
  conversation: Conversation;
  current: boolean;
  onChange: () => void;
  onDeleted: () => void;
}) {
  const { api } = usePromptkit();
  const action = useAction();
  const [mode, setMode] = useState<"view" | "menu" | "rename" | "confirm">("view");
  const [title, setTitle] = useState(conversation.title);
  const name = conversation.title || "New chat";

  async function rename() {
    if (await action.run(() => api.renameConversation(conversation.id, title.trim()))) {
      setMode("view");
      onChange();
    }
  }

  return (
    <li data-testid="conversation" aria-current={current ? "page" : undefined} className={current ? "current" : ""}>
      {mode === "rename" ? (
        <input
          aria-label="Title"
          value={title}
          autoFocus
          onChange={(event) => setTitle(event.target.value)}
          onKeyDown={(event) => {
            if (event.key === "Enter") void rename();
            if (event.key === "Escape") setMode("view");
          }}
        />
      ) : (
        <div className="entry">
          <Link href={`/conversations/${conversation.id}`}>{name}</Link>
          <button
            type="button"
            className="ghost small"
            aria-label={`Options for ${name}`}
            aria-expanded={mode === "menu"}
            onClick={() => setMode(mode === "menu" ? "view" : "menu")}
          >
            ⋯
          </button>
        </div>
      )}
      {mode === "menu" && (
        <div className="row" role="group" aria-label={`Options for ${name}`}>
          <button type="button" className="ghost small" onClick={() => (setTitle(conversation.title), setMode("rename"))}>
            Rename
          </button>
          <button type="button" className="ghost small" onClick={() => setMode("confirm")}>
            Delete
          </button>
        </div>
      )}
      {mode === "confirm" && (
        <div className="row" role="alertdialog" aria-label={`Delete ${name}?`}>
          <span className="small">Delete “{name}”?</span>
          <button
            type="button"
            className="danger small"
            onClick={async () => (await action.run(() => api.deleteConversation(conversation.id))) && onDeleted()}
          >
            Confirm delete
          </button>
          <button type="button" className="ghost small" onClick={() => setMode("view")}>
            Cancel
          </button>
        </div>
      )}
      {action.error && <p className="error small">{action.error}</p>}
    </li>
  );
}
