"use client";
// The chat view: the AI SDK's useChat posts straight to promptkit's POST /chat, which accepts
// useChat's own body (`id` is the conversation id) and streams the UI message stream back.
// No request adapter and no Next.js route in between, so every token shows as it arrives.
import { useChat } from "@ai-sdk/react";
import { DefaultChatTransport, type UIMessage } from "ai";
import { useMemo, useState } from "react";
import { StickToBottom, useStickToBottomContext } from "use-stick-to-bottom";

import { authHeaders, unreachable, type MessagePrompt } from "@/lib/promptkit";

import { Composer } from "./composer";
import { MessageItem } from "./message-item";
import { usePromptkit } from "./session";
import { Suggestions } from "./suggestions";

type Metadata = {
  model?: string;
  status?: string;
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
  prompt?: MessagePrompt | null;
};
/** Data parts promptkit streams: the title it gave an untitled conversation (transient). */
type DataParts = { "conversation-title": { title: string } };
export type ChatMessage = UIMessage<Metadata, DataParts>;

export function Chat({ conversationId, initialMessages, onReply, onTitle }: {
  conversationId: string;
  initialMessages: ChatMessage[];
  /** Called after each reply, so the page can re-read what changed meanwhile. */
  onReply?: () => void;
  /** Called as soon as promptkit names the conversation, while the reply still streams. */
  onTitle?: (title: string) => void;
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
  const [input, setInput] = useState("");
  // The text of the send that failed, put back in the composer so it is never lost.
  const [unsent, setUnsent] = useState<string | null>(null);
  const { messages, setMessages, sendMessage, regenerate, status, error, clearError, stop } =
    useChat<ChatMessage>({
      id: conversationId,
      messages: initialMessages,
      transport,
      // A reply that failed changed nothing to read back (and promptkit may be unreachable).
      onFinish: ({ isError }) => {
        if (!isError) onReply?.();
      },
      onData: (part) => {
        if (part.type === "data-conversation-title") onTitle?.(part.data.title);
      },
    });
  // Which provider answers is promptkit's choice by model name (e.g. claude-* with the Anthropic
  // plugin); empty asks for promptkit's default model.
  const [model, setModel] = useState(config.model);
  const busy = status === "submitted" || status === "streaming";
  const options = () => (model.trim() ? { body: { model: model.trim() } } : undefined);

  function send(text: string) {
    if (!text.trim() || busy) return;
    setUnsent(text);
    setInput("");
    sendMessage({ text }, options()).then(
      () => setUnsent(null),
      () => {},
    );
  }

  function retry() {
    // Drop the failed user message from the screen and send its text again, exactly once.
    const text = unsent ?? input;
    const last = messages[messages.length - 1];
    if (last?.role === "user") setMessages(messages.slice(0, -1));
    clearError();
    setInput("");
    send(text);
  }

  const lastAssistant = messages.findLastIndex((message) => message.role === "assistant");
  return (
    <section aria-label="Chat" data-status={status} className="chat">
      <StickToBottom className="scroller" resize="smooth" initial="instant">
        <StickToBottom.Content className="messages-wrap">
          {messages.length === 0 && <Suggestions onPick={send} />}
          <div role="log" aria-label="Chat history">
          <ol className="messages">
            {messages.map((message, index) => (
              <MessageItem
                key={message.id}
                message={message}
                onRegenerate={
                  index === lastAssistant && !busy ? () => void regenerate(options()) : undefined
                }
              />
            ))}
          </ol>
          </div>
          {status === "submitted" && (
            <p className="muted small thinking" aria-live="polite">
              Thinking…
            </p>
          )}
        </StickToBottom.Content>
        <ScrollToLatest />
      </StickToBottom>
      {error && (
        <div className="error-box" role="alert">
          <span>{readable(error, api.chatUrl.replace(/\/chat$/, ""))}</span>
          <button type="button" onClick={retry}>
            Retry
          </button>
        </div>
      )}
      <Composer
        input={error && unsent && !input ? unsent : input}
        setInput={setInput}
        model={model}
        setModel={setModel}
        busy={busy}
        onSend={() => (error ? retry() : send(input))}
        onStop={() => void stop()}
      />
    </section>
  );
}

function ScrollToLatest() {
  const { isAtBottom, scrollToBottom } = useStickToBottomContext();
  if (isAtBottom) return null;
  return (
    <button type="button" className="scroll-latest" onClick={() => void scrollToBottom()}>
      Scroll to latest
    </button>
  );
}

/** A failed POST /chat surfaces as an Error holding promptkit's JSON error body. */
function readable(error: Error, baseUrl: string): string {
  if (error instanceof TypeError) return unreachable(baseUrl); // "Failed to fetch"
  try {
    return JSON.parse(error.message)?.error?.message ?? error.message;
  } catch {
    return error.message;
  }
}
