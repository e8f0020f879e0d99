"use client";
// The model picker: promptkit's `GET /models` by display name, its `default: true` model
// preselected. Free text only where promptkit lists no models (or has no such route, or could not
// be reached): empty text then asks for promptkit's default model.
import { useEffect } from "react";

import { usePromptkit } from "./session";
import { useLoad } from "./use-load";

export function ModelPicker({ model, setModel }: { model: string; setModel: (model: string) => void }) {
  const { api } = usePromptkit();
  const { data } = useLoad(() => api.listModels(), [api]);
  const models = data ?? [];
  // Preselect promptkit's default once the list is here, unless a listed model is chosen already
  // (PROMPTKIT_CHAT_MODEL, or the user's pick).
  useEffect(() => {
    if (!models.length || models.some((entry) => entry.id === model)) return;
    setModel((models.find((entry) => entry.default) ?? models[0]).id);
  }, [models, model, setModel]);

  if (!models.length) {
    return (
      <label className="inline small">
        Model
        <input
          value={model}
          onChange={(event) => setModel(event.target.value)}
          placeholder="promptkit's default"
          size={16}
        />
      </label>
    );
  }
  return (
    <label className="inline small">
      Model
      <select value={model} onChange={(event) => setModel(event.target.value)}>
        {models.map((entry) => (
          <option key={entry.id} value={entry.id}>
            {entry.display_name}
          </option>
        ))}
      </select>
    </label>
  );
}
