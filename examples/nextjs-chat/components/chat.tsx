"use client";
// The chat view: the AI SDK's useChat posts straight to promptkit's POST /chat, which accepts
// useChat's own body (`id` is the conversation id) and streams the UI message stream back.
// No request adapter and no Next.js route in between, so every token shows as it arrives.
import { useChat } from "@ai-sdk/react";
import { DefaultChatTransport, type UIMessage } from "ai";
import { useMemo, useRef, useState } from "react";
import { StickToBottom, useStickToBottomContext } from "use-stick-to-bottom";

import { authHeaders, unreachable, type MessagePrompt } from "@/lib/promptkit";

import { Composer } from "./composer";
import { UsageMeter } from "./usage-meter";
import { MessageItem } from "./message-item";
import { usePromptkit } from "./session";
import { Suggestions } from "./suggestions";

// Resume and a real Stop (resume issue). Set this once promptkit answers `GET /chat/{id}/stream`
// and `POST /chat/{id}/stop`: useChat then re-attaches on mount to a reply still streaming (after
// a reload, or from another tab), and Stop asks promptkit to stop the reply wherever it runs; with
// resume on, aborting the fetch alone is only a disconnect. Off, Stop aborts this tab's stream,
// which promptkit stores as a partial reply.
const RESUMABLE = false;

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
  // The text of the send in flight: put back in the composer if promptkit never took it.
  const inFlight = useRef<string | null>(null);
  const [replies, setReplies] = useState(0);
  // "unsent": promptkit never stored the message (unreachable, or refused with an HTTP error),
  // so Retry sends it again; "reply": it was stored and the reply failed, so Retry regenerates.
  const [failed, setFailed] = useState<"unsent" | "reply" | null>(null);
  const { messages, setMessages, sendMessage, regenerate, status, error, clearError, stop } =
    useChat<ChatMessage>({
      id: conversationId,
      messages: initialMessages,
      transport,
      resume: RESUMABLE,
      onError: (caught) => {
        const unsent = caught instanceof TypeError || isErrorBody(caught.message);
        const text = inFlight.current;
        if (unsent && text) setInput((current) => current || text);
        setFailed(unsent ? "unsent" : "reply");
      },
      // A reply that failed changed nothing to read back, and promptkit may be away.
      onFinish: ({ isError }) => {
        setReplies((count) => count + 1); // a failed reply may have used tokens too
        if (isError) return;
        inFlight.current = null;
        onReply?.();
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
    inFlight.current = text;
    setFailed(null);
    setInput("");
    void sendMessage({ text }, options());
  }

  async function onStop() {
    if (RESUMABLE) await api.stopChat(conversationId).catch(() => undefined);
    void stop();
  }

  function retry() {
    clearError();
    if (failed === "reply") {
      setFailed(null);
      void regenerate(options());
      return;
    }
    // Drop the unsent user message from the screen and send its text once more.
    const last = messages[messages.length - 1];
    if (last?.role === "user") setMessages(messages.slice(0, -1));
    send(input || inFlight.current || "");
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
        input={input}
        setInput={setInput}
        model={model}
        setModel={setModel}
        busy={busy}
        onSend={() => (error ? retry() : send(input))}
        onStop={() => void onStop()}
        status={<UsageMeter replies={replies} />}
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

/** Is this promptkit's JSON error body (a refusal before anything was stored)? */
function isErrorBody(text: string): boolean {
  try {
    return typeof JSON.parse(text)?.error?.message === "string";
  } catch {
    return false;
  }
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
