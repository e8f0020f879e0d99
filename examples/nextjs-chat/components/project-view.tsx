"use client";
// A project's page: the sidebar, and the project's settings (prompts, files and tools).
import { FilesPanel } from "./files-panel";
import { PromptsPanel } from "./prompts-panel";
import { usePromptkit } from "./session";
import { Sidebar } from "./sidebar";
import { ToolsPanel } from "./tools-panel";
import { useLoad } from "./use-load";

export function ProjectView({ projectId }: { projectId: string }) {
  const { api } = usePromptkit();
  const project = useLoad(() => api.getProject(projectId), [api, projectId]);
  const conversations = useLoad(() => api.listConversations(projectId), [api, projectId]);
  return (
    <div className="shell">
      <Sidebar projectId={projectId} conversations={conversations} />
      <main className="settings">
        {project.error ? (
          <p className="error" role="alert">{project.error}</p>
        ) : !project.data ? (
          <p className="muted">Loading…</p>
        ) : (
          <>
            <h1>{project.data.name}</h1>
            <div className="columns">
              <PromptsPanel projectId={projectId} />
              <FilesPanel projectId={projectId} />
              <ToolsPanel project={project.data} />
            </div>
          </>
        )}
      </main>
    </div>
  );
}
