"use client";
// The caller's token budget beside the composer (`GET /usage`, models issue): nothing at all
// where promptkit has no such route or sets no limit. Read again after every reply. The meter
// counts what replies still streaming hold (`reserved`) as used: that is what `remaining` leaves.
import { usePromptkit } from "./session";
import { useLoad } from "./use-load";

export function UsageMeter({ replies }: { replies: number }) {
  const { api } = usePromptkit();
  const usage = useLoad(() => api.getUsage().catch(() => null), [api, replies]);
  const data = usage.data;
  if (!data || data.limit === null || data.remaining === null || !data.resets_at) return null;
  const resets = new Date(data.resets_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return (
    <span className="muted small usage" data-testid="usage">
      <meter min={0} max={data.limit} value={data.used + data.reserved} aria-label="Tokens used" />{" "}
      {data.remaining.toLocaleString()} of {data.limit.toLocaleString()} tokens left, until {resets}
    </span>
  );
}
