"use client";
import { useRef } from "react";

import { usePromptkit } from "./session";
import { useAction, useLoad } from "./use-load";

/** Upload a file through promptkit's `store_file` plugin (it answers 503 when none is set up). */
export function FilesPanel({ projectId }: { projectId: string }) {
  const { api } = usePromptkit();
  const files = useLoad(() => api.listFiles(projectId), [api, projectId]);
  const upload = useAction();
  const input = useRef<HTMLInputElement>(null);

  async function onUpload(event: React.FormEvent) {
    event.preventDefault();
    const file = input.current?.files?.[0];
    if (!file) return;
    if (await upload.run(() => api.uploadFile(projectId, file))) {
      if (input.current) input.current.value = "";
      await files.reload();
    }
  }

  return (
    <section aria-label="Files">
      <h2>Files</h2>
      {files.error && <p className="error">{files.error}</p>}
      <ul className="list">
        {files.data?.map((file) => (
          <li key={file.id}>
            {file.filename} <span className="muted">{file.size_bytes} bytes</span>
          </li>
        ))}
      </ul>
      <form onSubmit={onUpload} className="row">
        <label>
          File
          <input type="file" ref={input} required />
        </label>
        <button type="submit" disabled={upload.busy}>
          Upload
        </button>
      </form>
      {upload.error && <p className="error" role="alert">{upload.error}</p>}
    </section>
  );
}
