// Consumes promptkit's POST /chat with the real Vercel AI SDK, as a Next.js page would:
// DefaultChatTransport sends the useChat default body, readUIMessageStream parses the reply.
// Usage: node chat.mjs <chat url> <authorization header> <conversation id> <text> [message id]
// With a message id, the send is useChat's edit, `sendMessage({text, messageId})`: the last
// message carries that id with the new text, and the body names it in `messageId`.
// Prints {"message": <the final UIMessage>, "errors": [...]} as JSON.
import { DefaultChatTransport, readUIMessageStream } from 'ai';

const [api, authorization, chatId, text, messageId] = process.argv.slice(2);
const transport = new DefaultChatTransport({ api, headers: { Authorization: authorization } });
const stream = await transport.sendMessages({
  chatId,
  messages: [{ id: messageId ?? 'u1', role: 'user', parts: [{ type: 'text', text }] }],
  trigger: 'submit-message',
  messageId,
  abortSignal: undefined,
});

const errors = [];
let message = null;
for await (const snapshot of readUIMessageStream({ stream, onError: (e) => errors.push(String(e)) })) {
  message = snapshot;
}
console.log(JSON.stringify({ message, errors }));
