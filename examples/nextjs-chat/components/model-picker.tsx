"use client";
// One model field with promptkit's models as suggestions: `GET /models` where promptkit has it,
// a short static list otherwise. Empty asks for promptkit's default model.
import { usePromptkit } from "./session";
import { useLoad } from "./use-load";

export function ModelPicker({ model, setModel }: { model: string; setModel: (model: string) => void }) {
  const { api } = usePromptkit();
  const models = useLoad(() => api.listModels(), [api]);
  return (
    <label className="inline small">
      Model
      <input
        value={model}
        onChange={(event) => setModel(event.target.value)}
        placeholder="promptkit's default"
        list="promptkit-models"
        size={16}
      />
      <datalist id="promptkit-models">
        {models.data?.filter(Boolean).map((name) => <option key={name} value={name} />)}
      </datalist>
    </label>
  );
}
