"use client";
// A prompt's history: its immutable versions newest first, a line diff between any two, and
// Restore, which makes an old version the content again as a new version (nothing is rewritten).
import { diffLines } from "diff";
import { useState } from "react";

import type { Prompt, PromptVersion } from "@/lib/promptkit";

import { usePromptkit } from "./session";
import { useAction, useLoad } from "./use-load";

export function PromptHistory({ prompt, onRestored }: { prompt: Prompt; onRestored: () => Promise<void> }) {
  const { api } = usePromptkit();
  // Read again whenever the prompt gains a version (an edit or a restore).
  const versions = useLoad(() => api.listPromptVersions(prompt.id), [api, prompt.id, prompt.version]);
  const restore = useAction();
  const [picked, setPicked] = useState<{ from?: number; to?: number }>({});

  if (versions.error) return <p className="error">{versions.error}</p>;
  if (!versions.data) return <div className="skeleton" aria-hidden="true" />;
  const list = versions.data;
  const newest = list[0]?.version;
  // By default the newest change: the version before the newest, against the newest.
  const from = picked.from ?? list[1]?.version ?? newest;
  const to = picked.to ?? newest;
  const byNumber = (n: number | undefined) => list.find((version) => version.version === n);

  async function onRestore(version: PromptVersion) {
    if (await restore.run(() => api.restorePromptVersion(prompt.id, version.version))) {
      setPicked({});
      await onRestored();
    }
  }

  return (
    <section aria-label={`History of ${prompt.name}`} className="stack history-panel">
      <h3 className="small">History</h3>
      <ol className="versions" reversed>
        {list.map((version) => (
          <li key={version.version} data-testid="prompt-version-entry" data-version={version.version}>
            <span>
              <strong>v{version.version}</strong>{" "}
              <time className="muted small" dateTime={version.created_at}>
                {new Date(version.created_at).toLocaleString()}
              </time>
              {version.version === newest && <span className="badge">current</span>}
            </span>
            {version.version !== newest && (
              <button
                type="button"
                className="ghost small"
                disabled={restore.busy}
                onClick={() => void onRestore(version)}
                aria-label={`Restore version ${version.version}`}
              >
                Restore
              </button>
            )}
          </li>
        ))}
      </ol>
      {list.length > 1 && (
        <>
          <div className="row">
            <VersionSelect label="Compare version" value={from} versions={list} onChange={(n) => setPicked({ from: n, to })} />
            <VersionSelect label="with version" value={to} versions={list} onChange={(n) => setPicked({ from, to: n })} />
          </div>
          <Diff before={byNumber(from)?.content ?? ""} after={byNumber(to)?.content ?? ""} />
        </>
      )}
      {restore.error && <p className="error" role="alert">{restore.error}</p>}
    </section>
  );
}

function VersionSelect({ label, value, versions, onChange }: {
  label: string;
  value: number | undefined;
  versions: PromptVersion[];
  onChange: (version: number) => void;
}) {
  return (
    <label>
      {label}
      <select value={value} onChange={(event) => onChange(Number(event.target.value))}>
        {versions.map((version) => (
          <option key={version.version} value={version.version}>
            v{version.version}
          </option>
        ))}
      </select>
    </label>
  );
}

/** Lines removed and added between two contents (jsdiff), as <del> and <ins>. */
function Diff({ before, after }: { before: string; after: string }) {
  // Every content ends with a newline here, so that a last line compares equal to itself.
  const withNewline = (text: string) => (text.endsWith("\n") ? text : `${text}\n`);
  const changes = diffLines(withNewline(before), withNewline(after));
  if (changes.every((change) => !change.added && !change.removed)) {
    return <p className="muted small">The two versions are the same.</p>;
  }
  return (
    <pre className="diff" aria-label="Differences" data-testid="prompt-diff">
      {changes.map((change, index) => {
        const lines = change.value.replace(/\n$/, "").split("\n");
        const Tag = change.added ? "ins" : change.removed ? "del" : "span";
        const mark = change.added ? "+ " : change.removed ? "- " : "  ";
        return (
          <Tag key={index} className={change.added ? "added" : change.removed ? "removed" : "same"}>
            {lines.map((line) => `${mark}${line}\n`).join("")}
          </Tag>
        );
      })}
    </pre>
  );
}
