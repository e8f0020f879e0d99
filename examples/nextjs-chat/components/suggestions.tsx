"use client";

const PROMPTS = [
  "Explain promptkit's streaming in two sentences",
  "Write a Python function that reverses a list",
  "Give me a markdown table of three HTTP methods",
  "Suggest a name for a chat app",
];

/** A greeting and suggested prompts on an empty chat; clicking one sends it. */
export function Suggestions({ onPick }: { onPick: (text: string) => void }) {
  return (
    <div className="empty">
      <h2>How can I help?</h2>
      <div className="suggestions">
        {PROMPTS.map((prompt) => (
          <button key={prompt} type="button" className="ghost" onClick={() => onPick(prompt)}>
            {prompt}
          </button>
        ))}
      </div>
    </div>
  );
}
