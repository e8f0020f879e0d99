"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";

import { usePromptkit } from "./session";
import { useAction, useLoad } from "./use-load";

export function ConversationsPanel({ projectId }: { projectId: string }) {
  const { api } = usePromptkit();
  const router = useRouter();
  const conversations = useLoad(() => api.listConversations(projectId), [api, projectId]);
  const create = useAction();
  const [title, setTitle] = useState("");

  async function onCreate(event: React.FormEvent) {
    event.preventDefault();
    let id = "";
    const created = await create.run(async () => {
      id = (await api.createConversation(projectId, title)).id;
    });
    if (created) router.push(`/conversations/${id}`);
  }

  return (
    <section aria-label="Conversations">
      <h2>Conversations</h2>
      {conversations.error && <p className="error">{conversations.error}</p>}
      <ul className="list">
        {conversations.data?.map((conversation) => (
          <li key={conversation.id}>
            <Link href={`/conversations/${conversation.id}`}>
              {conversation.title || "Untitled conversation"}
            </Link>
          </li>
        ))}
      </ul>
      <form onSubmit={onCreate} className="row">
        <label>
          Conversation title
          <input value={title} onChange={(e) => setTitle(e.target.value)} />
        </label>
        <button type="submit" disabled={create.busy}>
          Start conversation
        </button>
      </form>
      {create.error && <p className="error">{create.error}</p>}
    </section>
  );
}
