"use client";
// The chat view: the AI SDK's useChat posts straight to promptkit's POST /chat, which accepts
// useChat's own body (`id` is the conversation id) and streams the UI message stream back.
// No request adapter and no Next.js route in between, so every token shows as it arrives.
import { useChat } from "@ai-sdk/react";
import { DefaultChatTransport, type FileUIPart, type UIMessage } from "ai";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { StickToBottom, useStickToBottomContext } from "use-stick-to-bottom";

import {
  authHeaders,
  unreachable,
  type BranchPlace,
  type Message,
  type MessagePrompt,
} from "@/lib/promptkit";

import { Composer, type Attached } from "./composer";
import { UsageMeter } from "./usage-meter";
import { MessageItem } from "./message-item";
import { usePromptkit } from "./session";
import { Suggestions } from "./suggestions";

type Metadata = {
  model?: string;
  status?: string;
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
  prompt?: MessagePrompt | null;
  /** Read back from promptkit: the id is the stored one, which an edit or a switch names. */
  stored?: boolean;
  /** Its place among its versions (edits, regenerations). */
  branch?: BranchPlace;
};
/** Data parts promptkit streams: the title it gave an untitled conversation (transient). */
type DataParts = { "conversation-title": { title: string } };
export type ChatMessage = UIMessage<Metadata, DataParts>;

/** promptkit's stored Message as the AI SDK's UIMessage: its stored parts (text, reasoning, tool
 * calls) where promptkit keeps them, else its text. */
export function toChatMessage(message: Message): ChatMessage {
  const parts = message.parts?.length
    ? (message.parts as ChatMessage["parts"])
    : [{ type: "text" as const, text: message.content }];
  return {
    id: message.id,
    role: message.role,
    parts,
    metadata: {
      model: message.model ?? undefined,
      status: message.status,
      prompt: message.prompt,
      stored: true,
      branch: message.branch,
    },
  };
}

/** useChat's transport, told when a resume found nothing streaming (`GET /chat/{id}/stream`
 * answered 204): the reply may have ended between the history's read and now. */
class ResumingTransport extends DefaultChatTransport<ChatMessage> {
  constructor(
    options: ConstructorParameters<typeof DefaultChatTransport<ChatMessage>>[0],
    private readonly onNothingToResume: () => void,
  ) {
    super(options);
  }

  override async reconnectToStream(options: Parameters<DefaultChatTransport<ChatMessage>["reconnectToStream"]>[0]) {
    const stream = await super.reconnectToStream(options);
    if (!stream) this.onNothingToResume();
    return stream;
  }
}

export function Chat({ conversationId, projectId, initialMessages, onReply, onTitle }: {
  conversationId: string;
  /** Where attached files are uploaded (the conversation's project); absent: no attaching. */
  projectId?: string;
  initialMessages: ChatMessage[];
  /** Called after each reply, so the page can re-read what changed meanwhile. */
  onReply?: () => void;
  /** Called as soon as promptkit names the conversation, while the reply still streams. */
  onTitle?: (title: string) => void;
}) {
  const { api, getToken, config } = usePromptkit();
  // Set below, once useChat has given setMessages; the transport is made before.
  const resync = useRef<() => void>(() => undefined);
  // The Retry-After of the last refused POST /chat (429): useChat's error holds only the body.
  const retryAfter = useRef<string | null>(null);
  const transport = useMemo(
    () =>
      new ResumingTransport(
        {
          api: api.chatUrl,
          headers: () => authHeaders(getToken), // asked per request: tokens expire
          fetch: async (input, init) => {
            const response = await fetch(input, init);
            retryAfter.current = response.ok ? null : response.headers.get("Retry-After");
            return response;
          },
        },
        () => resync.current(),
      ),
    [api, getToken],
  );
  const [input, setInput] = useState("");
  // Files attached to the message being written, uploaded as soon as they are picked.
  const [attached, setAttached] = useState<Attached[]>([]);
  // The text of the send in flight: put back in the composer if promptkit never took it.
  const inFlight = useRef<string | null>(null);
  const inFlightFiles = useRef<Attached[]>([]);
  const [replies, setReplies] = useState(0);
  // "unsent": promptkit never stored the message (unreachable, or refused with an HTTP error),
  // so Retry sends it again; "reply": it was stored and the reply failed, so Retry regenerates.
  const [failed, setFailed] = useState<"unsent" | "reply" | null>(null);
  // A reply ended: the messages are read back once the chat is ready, for their stored ids and
  // their versions ("‹ 2/3 ›").
  const [stale, setStale] = useState(false);
  const { messages, setMessages, sendMessage, regenerate, status, error, clearError, stop } =
    useChat<ChatMessage>({
      id: conversationId,
      messages: initialMessages,
      transport,
      // With PROMPTKIT_RESUMABLE=on, re-attach on mount to a reply still streaming (a reload, or
      // another tab). Off, the route would answer 204 every time: no request is made.
      resume: config.resumable,
      onError: (caught) => {
        const unsent = caught instanceof TypeError || isErrorBody(caught.message);
        const text = inFlight.current;
        if (unsent && text) setInput((current) => current || text);
        if (unsent && inFlightFiles.current.length) {
          const files = inFlightFiles.current;
          setAttached((current) => (current.length ? current : files));
        }
        setFailed(unsent ? "unsent" : "reply");
      },
      // A reply that failed changed nothing to read back, and promptkit may be away.
      onFinish: ({ isError }) => {
        setReplies((count) => count + 1); // a failed reply may have used tokens too
        if (isError) return;
        inFlight.current = null;
        setStale(true);
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

  // Read the stored messages again (after a stop, or a resume that found nothing streaming):
  // what promptkit stored replaces what this tab had. Dropped when a send started meanwhile.
  const busyNow = useRef(busy);
  busyNow.current = busy;
  const reread = useCallback(async () => {
    const stored = await api.listMessages(conversationId).catch(() => null);
    if (stored && !busyNow.current) setMessages(stored.map(toChatMessage));
  }, [api, conversationId, setMessages]);
  useEffect(() => {
    resync.current = () => void reread();
  }, [reread]);
  useEffect(() => {
    if (!stale || status !== "ready") return;
    setStale(false);
    void reread();
  }, [stale, status, reread]);
  const options = () => (model.trim() ? { body: { model: model.trim() } } : undefined);

  function send(text: string) {
    if (!text.trim() || busy) return;
    const ready = attached.filter((file) => file.fileId);
    inFlight.current = text;
    inFlightFiles.current = ready;
    setFailed(null);
    setInput("");
    setAttached([]);
    // Each file goes as useChat's `file` part with its promptkit URL: promptkit reads it from
    // its own store (checked to be this user's, in this project).
    const files: FileUIPart[] = ready.map((file) => ({
      type: "file",
      mediaType: file.mediaType,
      filename: file.filename,
      url: `/files/${file.fileId}/content`,
    }));
    void sendMessage(files.length ? { text, files } : { text }, options());
  }

  function attach(files: File[]) {
    if (!projectId) return;
    for (const file of files) {
      const key = `${Date.now()}-${Math.random()}`;
      const mediaType = file.type || "application/octet-stream";
      setAttached((current) => [...current, { key, filename: file.name, mediaType, size: file.size }]);
      api.uploadFile(projectId, file).then(
        (stored) =>
          setAttached((current) =>
            current.map((item) =>
              item.key === key ? { ...item, fileId: stored.id, mediaType: stored.content_type } : item,
            ),
          ),
        (caught: Error) =>
          setAttached((current) =>
            current.map((item) => (item.key === key ? { ...item, error: caught.message } : item)),
          ),
      );
    }
  }

  // Stop asks promptkit to stop the reply wherever it runs (with resume on, aborting the fetch
  // alone is only a disconnect, and the reply would go on), then aborts this tab's stream. The
  // reply is then read back as promptkit stored it (`partial`; or nothing, on a 204).
  // Before the stream's first part promptkit may not hold the reply yet (the stop would answer
  // 204 and, with resume on, the reply would run on unfollowed): the stop waits for that part.
  const [stopWanted, setStopWanted] = useState(false);
  useEffect(() => {
    if (!stopWanted || status === "submitted") return;
    setStopWanted(false);
    if (status === "streaming") void stopNow();
  }, [stopWanted, status]); // stopNow reads this render's state: not a dependency

  function onStop() {
    if (status === "submitted") setStopWanted(true);
    else void stopNow();
  }

  async function stopNow() {
    // promptkit unreachable: only the abort is left (with resume on, promptkit stops the reply
    // itself once nobody has followed it for PROMPTKIT_RESUME_GRACE).
    await api.stopChat(conversationId).catch(() => undefined);
    await stop();
    busyNow.current = false;
    await reread();
  }

  // An edit is a new version of a stored user message: useChat drops what followed it on the
  // screen, and promptkit keeps it as the other branch.
  function edit(messageId: string, text: string) {
    if (!text.trim() || busy) return;
    setFailed(null);
    void sendMessage({ text, messageId }, options());
  }

  // "‹ 2/3 ›": the sibling before or after this message becomes the shown branch.
  async function showVersion(messageId: string, step: -1 | 1) {
    const tree = await api.listTree(conversationId).catch(() => null);
    const self = tree?.find((message) => message.id === messageId);
    if (!tree || !self) return;
    const siblings = tree.filter((message) => message.parent_id === self.parent_id);
    const target = siblings[siblings.indexOf(self) + step];
    if (!target) return;
    await api.switchBranch(conversationId, target.id).catch(() => undefined);
    await reread();
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
                onEdit={
                  message.role === "user" && message.metadata?.stored && !busy
                    ? (text) => edit(message.id, text)
                    : undefined
                }
                onVersion={
                  message.metadata?.stored && !busy
                    ? (step) => void showVersion(message.id, step)
                    : undefined
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
          <span>{readable(error, api.chatUrl.replace(/\/chat$/, ""), model, retryAfter.current)}</span>
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
        onStop={onStop}
        status={<UsageMeter replies={replies} />}
        attached={attached}
        onAttach={projectId ? attach : undefined}
        onDetach={(key) => setAttached((current) => current.filter((item) => item.key !== key))}
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

/** A failed POST /chat surfaces as an Error holding promptkit's JSON error body; the refusals a
 * person can act on are said in their words, the rest as promptkit words them. */
function readable(error: Error, baseUrl: string, model: string, retryAfter: string | null): string {
  if (error instanceof TypeError) return unreachable(baseUrl); // "Failed to fetch"
  let body: { code?: string; message?: string } | undefined;
  try {
    body = JSON.parse(error.message)?.error;
  } catch {
    return error.message;
  }
  const wait = waitFor(retryAfter);
  switch (body?.code) {
    case "budget_exhausted":
      return `You have used your token budget for now. It renews ${wait ?? "later"}; your message is still in the box.`;
    case "rate_limited":
      return `That was a lot of messages at once. Try again ${wait ?? "in a moment"}.`;
    case "unknown_model":
      return `promptkit doesn't offer the model "${model || "default"}". Pick another model and send again.`;
    default:
      return body?.message ?? error.message;
  }
}

/** Retry-After (seconds) as "in 40 s", "in 5 min" or "at 00:00". */
function waitFor(retryAfter: string | null): string | null {
  const seconds = Number(retryAfter);
  if (!retryAfter || !Number.isFinite(seconds) || seconds < 0) return null;
  if (seconds < 90) return `in ${Math.max(1, Math.ceil(seconds))} s`;
  if (seconds < 3600) return `in ${Math.ceil(seconds / 60)} min`;
  const at = new Date(Date.now() + seconds * 1000);
  return `at ${at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
}
