"use client";
import Link from "next/link";
import { useState } from "react";

import { usePromptkit } from "./session";
import { useAction, useLoad } from "./use-load";

export function ProjectList() {
  const { api } = usePromptkit();
  const projects = useLoad(() => api.listProjects(), [api]);
  const create = useAction();
  const [name, setName] = useState("");

  async function onCreate(event: React.FormEvent) {
    event.preventDefault();
    if (await create.run(() => api.createProject(name))) {
      setName("");
      await projects.reload();
    }
  }

  return (
    <main>
      <h1>Projects</h1>
      {projects.error && <p className="error">{projects.error}</p>}
      <ul className="list" aria-label="Projects">
        {projects.data?.map((project) => (
          <li key={project.id}>
            <Link href={`/projects/${project.id}`}>{project.name}</Link>
          </li>
        ))}
        {projects.data?.length === 0 && <li className="muted">No projects yet.</li>}
      </ul>
      <form onSubmit={onCreate} className="row">
        <label>
          New project name
          <input value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <button type="submit" disabled={create.busy}>
          Create project
        </button>
      </form>
      {create.error && <p className="error">{create.error}</p>}
    </main>
  );
}
