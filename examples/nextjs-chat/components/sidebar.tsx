"use client";
// The navigation beside every project and conversation page: project switcher, New chat,
// search, and the project's conversations grouped by date. On a phone it sits behind a button.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";

import { groupByDate } from "@/lib/group-by-date";
import type { Conversation } from "@/lib/promptkit";

import { ConversationEntry } from "./conversation-entry";
import { SearchBox } from "./search-box";
import { usePromptkit } from "./session";
import { ThemeToggle } from "./theme-toggle";
import { useLoad } from "./use-load";

export function Sidebar({ projectId, openId, conversations }: {
  projectId: string;
  openId?: string;
  conversations: { data: Conversation[] | null; error: string | null; reload: () => Promise<void> };
}) {
  const { api } = usePromptkit();
  const router = useRouter();
  const projects = useLoad(() => api.listProjects(), [api]);
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function newChat() {
    try {
      const created = await api.createConversation(projectId, "");
      router.push(`/conversations/${created.id}`);
    } catch (caught) {
      setError((caught as Error).message);
    }
  }

  return (
    <>
      <button type="button" className="ghost sidebar-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? "Close menu" : "Menu"}
      </button>
      <nav aria-label="Conversations" className={`sidebar${open ? " open" : ""}`}>
        <label className="small">
          Project
          <select value={projectId} onChange={(event) => router.push(`/projects/${event.target.value}`)}>
            {(projects.data ?? []).map((project) => (
              <option key={project.id} value={project.id}>
                {project.name}
              </option>
            ))}
          </select>
        </label>
        <SearchBox projectId={projectId} />
        <button type="button" onClick={() => void newChat()}>
          New chat
        </button>
        {(error ?? conversations.error) && <p className="error small">{error ?? conversations.error}</p>}
        {!conversations.data && <div className="skeleton" aria-hidden="true" />}
        {groupByDate(conversations.data ?? []).map(([group, items]) => (
          <section key={group} aria-label={group}>
            <h3 className="group">{group}</h3>
            <ul className="history">
              {items.map((conversation) => (
                <ConversationEntry
                  key={conversation.id}
                  conversation={conversation}
                  current={conversation.id === openId}
                  onChange={conversations.reload}
                  onDeleted={() => {
                    if (conversation.id === openId) router.push(`/projects/${projectId}`);
                    void conversations.reload();
                  }}
                />
              ))}
            </ul>
          </section>
        ))}
        <div className="row sidebar-foot">
          <Link href={`/projects/${projectId}`}>Project settings</Link>
          <ThemeToggle />
        </div>
      </nav>
    </>
  );
}
