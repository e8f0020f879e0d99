"use client";
import Link from "next/link";

import type { Message } from "@/lib/promptkit";

import { Chat, type ChatMessage } from "./chat";
import { usePromptkit } from "./session";
import { useLoad } from "./use-load";

export function ConversationView({ conversationId }: { conversationId: string }) {
  const { api } = usePromptkit();
  const conversation = useLoad(() => api.getConversation(conversationId), [api, conversationId]);
  const history = useLoad(() => api.listMessages(conversationId), [api, conversationId]);
  const error = conversation.error ?? history.error;
  if (error) return <main className="error">{error}</main>;
  if (!conversation.data || !history.data) return <main className="muted">Loading…</main>;
  return (
    <main>
      <p>
        <Link href={`/projects/${conversation.data.project_id}`}>← Project</Link>
      </p>
      <h1>{conversation.data.title || "Untitled conversation"}</h1>
      {/* Mounted once the history is here: useChat takes its first messages only at start. */}
      <Chat conversationId={conversationId} initialMessages={history.data.map(toChatMessage)} />
    </main>
  );
}

/** promptkit's stored Message as the AI SDK's UIMessage. */
function toChatMessage(message: Message): ChatMessage {
  return {
    id: message.id,
    role: message.role,
    parts: [{ type: "text", text: message.content }],
    metadata: { model: message.model ?? undefined, status: message.status },
  };
}
