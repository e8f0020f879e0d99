"use client";
import type { Message } from "@/lib/promptkit";

import { Chat, type ChatMessage } from "./chat";
import { usePromptkit } from "./session";
import { Sidebar } from "./sidebar";
import { useLoad } from "./use-load";

export function ConversationView({ conversationId }: { conversationId: string }) {
  const { api } = usePromptkit();
  const conversation = useLoad(() => api.getConversation(conversationId), [api, conversationId]);
  const history = useLoad(() => api.listMessages(conversationId), [api, conversationId]);
  const projectId = conversation.data?.project_id;
  const conversations = useLoad(
    async () => (projectId ? api.listConversations(projectId) : null),
    [api, projectId],
  );
  const error = conversation.error ?? history.error;
  return (
    <div className="shell">
      {projectId && <Sidebar projectId={projectId} openId={conversationId} conversations={conversations} />}
      <main className="chat-main">
        {error ? (
          <div className="error-box" role="alert">
            <span>{error}</span>
            <button type="button" onClick={() => void Promise.all([conversation.reload(), history.reload()])}>
              Retry
            </button>
          </div>
        ) : !conversation.data || !history.data ? (
          <p className="muted">Loading…</p>
        ) : (
          <>
            <h1 className="title">{conversation.data.title || "New chat"}</h1>
            {/* Mounted once the history is here: useChat takes its first messages only at start. */}
            <Chat
              conversationId={conversationId}
              initialMessages={history.data.map(toChatMessage)}
              onReply={() => void Promise.all([conversation.reload(), conversations.reload()])}
            />
          </>
        )}
      </main>
    </div>
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
