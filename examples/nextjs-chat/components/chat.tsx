"use client";
// The chat view: the AI SDK's useChat posts straight to promptkit's POST /chat, which accepts
// useChat's own body (`id` is the conversation id) and streams the UI message stream back.
// No request adapter and no Next.js route in between, so every token shows as it arrives.
import { useChat } from "@ai-sdk/react";
import { DefaultChatTransport, type UIMessage } from "ai";
import { useMemo, useState } from "react";

import { authHeaders } from "@/lib/promptkit";

import { usePromptkit } from "./session";

type Metadata = {
  model?: string;
  status?: string;
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
};
export type ChatMessage = UIMessage<Metadata>;

export function Chat({ conversationId, initialMessages }: {
  conversationId: string;
  initialMessages: ChatMessage[];
}) {
  const { api, getToken, config } = usePromptkit();
  const transport = useMemo(
    () =>
      new DefaultChatTransport<ChatMessage>({
        api: api.chatUrl,
        headers: () => authHeaders(getToken), // asked per request: tokens expire
      }),
    [api, getToken],
  );
  const { messages, sendMessage, status, error, stop } = useChat<ChatMessage>({
    id: conversationId,
    messages: initialMessages,
    transport,
  });
  const [input, setInput] = useState("");
  // Which provider answers is promptkit's choice by model name (e.g. claude-* with the Anthropic
  // plugin); empty asks for promptkit's default model.
  const [model, setModel] = useState(config.model);
  const busy = status === "submitted" || status === "streaming";

  function onSend(event: React.FormEvent) {
    event.preventDefault();
    if (!input.trim() || busy) return;
    void sendMessage({ text: input }, model.trim() ? { body: { model: model.trim() } } : undefined);
    setInput("");
  }

  return (
    <section aria-label="Chat" data-status={status}>
      <ol className="messages">
        {messages.map((message) => (
          <li key={message.id} data-testid="message" data-role={message.role} className={message.role}>
            <span className="who">{message.role === "user" ? "You" : "Assistant"}</span>
            <div className="text">{textOf(message)}</div>
            {message.metadata?.model && <span className="muted small">{message.metadata.model}</span>}
          </li>
        ))}
      </ol>
      {error && (
        <p className="error" role="alert">
          {readable(error)}
        </p>
      )}
      <form onSubmit={onSend} className="row composer">
        <label className="grow">
          Message
          <input value={input} onChange={(e) => setInput(e.target.value)} autoFocus />
        </label>
        <label>
          Model
          <input
            value={model}
            onChange={(e) => setModel(e.target.value)}
            placeholder="promptkit's default"
            size={18}
          />
        </label>
        {busy ? (
          <button type="button" onClick={() => stop()}>
            Stop
          </button>
        ) : (
          <button type="submit">Send</button>
        )}
      </form>
    </section>
  );
}

function textOf(message: ChatMessage): string {
  return message.parts.map((part) => (part.type === "text" ? part.text : "")).join("");
}

/** A failed POST /chat surfaces as an Error holding promptkit's JSON error body. */
function readable(error: Error): string {
  try {
    return JSON.parse(error.message)?.error?.message ?? error.message;
  } catch {
    return error.message;
  }
}
