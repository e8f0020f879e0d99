"use client";
// The caller's token budget beside the composer (`GET /usage`, models issue), and the active
// organization's when it has one: nothing at all where promptkit has no such route or sets no
// limit. Read again after every reply. A meter counts what replies still streaming hold
// (`reserved`) as used: that is what `remaining` leaves.
import type { BudgetWindow } from "../lib/promptkit";
import { usePromptkit } from "./session";
import { useLoad } from "./use-load";

export function UsageMeter({ replies }: { replies: number }) {
  const { api } = usePromptkit();
  const usage = useLoad(() => api.getUsage().catch(() => null), [api, replies]);
  const data = usage.data;
  if (!data) return null;
  return (
    <>
      <Meter budget={data} label="Tokens used" testId="usage" />
      {data.organization && (
        <Meter
          budget={data.organization}
          label="Organization tokens used"
          testId="org-usage"
          prefix="organization: "
        />
      )}
    </>
  );
}

function Meter({
  budget,
  label,
  testId,
  prefix = "",
}: {
  budget: BudgetWindow;
  label: string;
  testId: string;
  prefix?: string;
}) {
  if (budget.limit === null || budget.remaining === null || !budget.resets_at) return null;
  const resets = new Date(budget.resets_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return (
    <span className="muted small usage" data-testid={testId}>
      <meter min={0} max={budget.limit} value={budget.used + budget.reserved} aria-label={label} />{" "}
      {prefix}
      {budget.remaining.toLocaleString()} of {budget.limit.toLocaleString()} tokens left, until {resets}
    </span>
  );
}
