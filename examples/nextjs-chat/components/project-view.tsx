"use client";
import { ConversationsPanel } from "./conversations-panel";
import { FilesPanel } from "./files-panel";
import { PromptsPanel } from "./prompts-panel";
import { usePromptkit } from "./session";
import { useLoad } from "./use-load";

export function ProjectView({ projectId }: { projectId: string }) {
  const { api } = usePromptkit();
  const project = useLoad(() => api.getProject(projectId), [api, projectId]);
  if (project.error) return <main className="error">{project.error}</main>;
  if (!project.data) return <main className="muted">Loading…</main>;
  return (
    <main>
      <h1>{project.data.name}</h1>
      <div className="columns">
        <PromptsPanel projectId={projectId} />
        <div>
          <ConversationsPanel projectId={projectId} />
          <FilesPanel projectId={projectId} />
        </div>
      </div>
    </main>
  );
}
