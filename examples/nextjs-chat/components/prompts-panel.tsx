"use client";
import { useState } from "react";

import type { Prompt } from "@/lib/promptkit";

import { PromptHistory } from "./prompt-history";
import { usePromptkit } from "./session";
import { useAction, useLoad } from "./use-load";

/** The project's prompts: write one, edit one, and make one the active system prompt. */
export function PromptsPanel({ projectId }: { projectId: string }) {
  const { api } = usePromptkit();
  const prompts = useLoad(() => api.listPrompts(projectId), [api, projectId]);
  const action = useAction();
  const [name, setName] = useState("");
  const [content, setContent] = useState("");
  const [active, setActive] = useState(true);

  async function onCreate(event: React.FormEvent) {
    event.preventDefault();
    const created = await action.run(() =>
      api.createPrompt(projectId, { name, content, is_active: active }),
    );
    if (created) {
      setName("");
      setContent("");
      await prompts.reload();
    }
  }

  async function activate(prompt: Prompt) {
    if (await action.run(() => api.activatePrompt(prompt.id))) await prompts.reload();
  }

  return (
    <section aria-label="Prompts">
      <h2>Prompts</h2>
      {prompts.error && <p className="error">{prompts.error}</p>}
      <ul className="list">
        {prompts.data?.map((prompt) => (
          <PromptItem
            key={prompt.id}
            prompt={prompt}
            onActivate={() => activate(prompt)}
            onSaved={prompts.reload}
          />
        ))}
      </ul>
      <form onSubmit={onCreate} className="stack" aria-label="New prompt">
        <label>
          Prompt name
          <input value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <label>
          Prompt content
          <textarea value={content} onChange={(e) => setContent(e.target.value)} rows={4} />
        </label>
        <label className="inline">
          <input type="checkbox" checked={active} onChange={(e) => setActive(e.target.checked)} />
          Make it the active prompt
        </label>
        <button type="submit" disabled={action.busy}>
          Add prompt
        </button>
      </form>
      {action.error && <p className="error">{action.error}</p>}
    </section>
  );
}

function PromptItem({ prompt, onActivate, onSaved }: {
  prompt: Prompt;
  onActivate: () => void;
  onSaved: () => Promise<void>;
}) {
  const { api } = usePromptkit();
  const save = useAction();
  const [editing, setEditing] = useState(false);
  const [showHistory, setShowHistory] = useState(false);
  const [name, setName] = useState(prompt.name);
  const [content, setContent] = useState(prompt.content);

  async function onSave(event: React.FormEvent) {
    event.preventDefault();
    if (await save.run(() => api.updatePrompt(prompt.id, { name, content }))) {
      setEditing(false);
      await onSaved();
    }
  }

  if (editing) {
    return (
      <li>
        <form onSubmit={onSave} className="stack" aria-label={`Edit ${prompt.name}`}>
          <label>
            Name
            <input value={name} onChange={(e) => setName(e.target.value)} required />
          </label>
          <label>
            Content
            <textarea value={content} onChange={(e) => setContent(e.target.value)} rows={4} />
          </label>
          <div className="row">
            <button type="submit" disabled={save.busy}>Save</button>
            <button type="button" onClick={() => setEditing(false)}>Cancel</button>
          </div>
          {save.error && <p className="error">{save.error}</p>}
        </form>
      </li>
    );
  }
  return (
    <li data-testid="prompt" data-active={prompt.is_active} data-version={prompt.version}>
      <strong>{prompt.name}</strong> <span className="muted small">v{prompt.version}</span>{" "}
      {prompt.is_active && <span className="badge">active</span>}
      <p className="content">{prompt.content}</p>
      <div className="row">
        <button type="button" onClick={() => (setName(prompt.name), setContent(prompt.content), setEditing(true))}>
          Edit
        </button>
        {!prompt.is_active && (
          <button type="button" onClick={onActivate}>Activate</button>
        )}
        <button type="button" aria-expanded={showHistory} onClick={() => setShowHistory(!showHistory)}>
          History
        </button>
      </div>
      {showHistory && <PromptHistory prompt={prompt} onRestored={onSaved} />}
    </li>
  );
}
