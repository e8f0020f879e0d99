"use client";
// Search over the project's conversations as you type (debounced), through `GET /search`.
// Ctrl/Cmd+K focuses it; Enter opens the first hit. Where promptkit has no search route the
// box simply finds nothing.
import { useRouter } from "next/navigation";
import { useEffect, useRef, useState } from "react";

import type { SearchHit } from "@/lib/promptkit";

import { usePromptkit } from "./session";

export function SearchBox({ projectId }: { projectId: string }) {
  const { api } = usePromptkit();
  const router = useRouter();
  const box = useRef<HTMLInputElement>(null);
  const [query, setQuery] = useState("");
  const [hits, setHits] = useState<SearchHit[]>([]);

  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
        event.preventDefault();
        box.current?.focus();
      }
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  useEffect(() => {
    if (!query.trim()) return setHits([]);
    let live = true;
    const timer = setTimeout(() => {
      api.search(projectId, query.trim()).then(
        (found) => live && setHits(found),
        () => live && setHits([]),
      );
    }, 200);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [api, projectId, query]);

  const open = (hit: SearchHit) => router.push(`/conversations/${hit.conversation.id}`);
  return (
    <div className="search">
      <label className="sr-only" htmlFor="sidebar-search">
        Search
      </label>
      <input
        id="sidebar-search"
        ref={box}
        type="search"
        placeholder="Search (Ctrl+K)"
        value={query}
        onChange={(event) => setQuery(event.target.value)}
        onKeyDown={(event) => {
          if (event.key === "Enter" && hits[0]) open(hits[0]);
        }}
      />
      {hits.length > 0 && (
        <ul className="search-hits" aria-label="Search results">
          {hits.map((hit) => (
            <li key={`${hit.conversation.id}-${hit.message_id}`}>
              <button type="button" className="ghost hit" onClick={() => open(hit)}>
                <strong>{hit.conversation.title || "New chat"}</strong>
                <span className="small">{marked(hit)}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The snippet with each highlighted range in a <mark>. */
function marked(hit: SearchHit) {
  const pieces: React.ReactNode[] = [];
  let at = 0;
  for (const [start, end] of hit.highlights) {
    if (start < at) continue;
    pieces.push(hit.snippet.slice(at, start), <mark key={start}>{hit.snippet.slice(start, end)}</mark>);
    at = end;
  }
  pieces.push(hit.snippet.slice(at));
  return pieces;
}
