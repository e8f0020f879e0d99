// Resumes a reply in flight with the real Vercel AI SDK, as useChat({resume: true}) does on
// mount: DefaultChatTransport.reconnectToStream sends GET {api}/{chatId}/stream.
// Usage: node resume.mjs <chat url> <authorization header> <conversation id>
// Prints {"resumed": false} on 204, else {"resumed": true, "message": <UIMessage>, "errors": [...]}.
import { DefaultChatTransport, readUIMessageStream } from 'ai';

const [api, authorization, chatId] = process.argv.slice(2);
const transport = new DefaultChatTransport({ api, headers: { Authorization: authorization } });
const stream = await transport.reconnectToStream({ chatId });
if (stream === null) {
  console.log(JSON.stringify({ resumed: false }));
} else {
  const errors = [];
  let message = null;
  for await (const snapshot of readUIMessageStream({ stream, onError: (e) => errors.push(String(e)) })) {
    message = snapshot;
  }
  console.log(JSON.stringify({ resumed: true, message, errors }));
}
