"use client";
import { useEffect, useState } from "react";

import type { Project } from "../lib/promptkit";
import { usePromptkit } from "./session";
import { useAction, useLoad } from "./use-load";

/** Choose the tools the project's chats may call: promptkit's `GET /tools`, one checkbox each,
 * saved with `PATCH /projects/{id}` at once. Nothing shows where promptkit has no tools. */
export function ToolsPanel({ project }: { project: Project }) {
  const { api } = usePromptkit();
  const tools = useLoad(() => api.listTools(), [api]);
  const save = useAction();
  const [enabled, setEnabled] = useState<string[]>(project.tools ?? []);
  useEffect(() => setEnabled(project.tools ?? []), [project]);

  if (tools.data === null && !tools.error) return null; // loading, or no GET /tools (404)

  async function toggle(name: string, on: boolean) {
    const before = enabled;
    const next = on ? [...enabled, name] : enabled.filter((tool) => tool !== name);
    setEnabled(next); // shown at once; put back if promptkit refuses it
    const saved = await save.run(async () => {
      const updated = await api.setProjectTools(project.id, next);
      setEnabled(updated.tools ?? next);
    });
    if (!saved) setEnabled(before);
  }

  return (
    <section aria-label="Tools">
      <h2>Tools</h2>
      {tools.error && <p className="error">{tools.error}</p>}
      {tools.data?.length === 0 && <p className="muted">promptkit has no tools installed.</p>}
      <ul className="list">
        {tools.data?.map((tool) => (
          <li key={tool.name}>
            <label className="inline tool-choice">
              <input
                type="checkbox"
                name="tool"
                value={tool.name}
                checked={enabled.includes(tool.name)}
                disabled={save.busy}
                onChange={(event) => void toggle(tool.name, event.target.checked)}
              />
              <span>
                <code>{tool.name}</code> <span className="muted">{tool.description}</span>
              </span>
            </label>
          </li>
        ))}
      </ul>
      {save.error && <p className="error" role="alert">{save.error}</p>}
    </section>
  );
}
