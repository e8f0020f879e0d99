"use client";
import { useCallback } from "react";

import type { Conversation } from "@/lib/promptkit";

import { Chat, toChatMessage } from "./chat";
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
  // Only a page that never loaded shows the error instead of the chat: a re-read that fails
  // later (promptkit went away) must not unmount the chat and lose what is typed.
  const error = (!conversation.data && conversation.error) || (!history.data && history.error) || null;
  const { replace: replaceConversation, reload: reloadConversation } = conversation;
  const { replace: replaceList, reload: reloadList } = conversations;

  // The title from the stream goes straight into the heading and the sidebar: no refetch.
  const onTitle = useCallback(
    (title: string) => {
      const retitle = (item: Conversation) => (item.id === conversationId ? { ...item, title } : item);
      replaceConversation((current) => (current ? retitle(current) : current));
      replaceList((list) => list?.map(retitle) ?? list);
    },
    [conversationId, replaceConversation, replaceList],
  );
  // A title that came after the reply ended is read back; a slow one once more a little later.
  const onReply = useCallback(() => {
    void Promise.all([reloadConversation(), reloadList()]);
    setTimeout(() => void Promise.all([reloadConversation(), reloadList()]), 3000);
  }, [reloadConversation, reloadList]);
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
              projectId={conversation.data.project_id}
              initialMessages={history.data.map(toChatMessage)}
              onReply={onReply}
              onTitle={onTitle}
            />
          </>
        )}
      </main>
    </div>
  );
}
