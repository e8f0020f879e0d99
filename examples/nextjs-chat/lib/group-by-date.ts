// The sidebar's date groups, as in most chat apps: Today, Yesterday, Previous 7 days, Older.
import { differenceInCalendarDays, parseISO } from "date-fns";

import type { Conversation } from "./promptkit";

export const GROUPS = ["Today", "Yesterday", "Previous 7 days", "Older"] as const;

export function groupByDate(conversations: Conversation[], now = new Date()) {
  const groups = new Map<(typeof GROUPS)[number], Conversation[]>(GROUPS.map((name) => [name, []]));
  const newestFirst = [...conversations].sort((a, b) => b.updated_at.localeCompare(a.updated_at));
  for (const conversation of newestFirst) {
    const days = differenceInCalendarDays(now, parseISO(conversation.updated_at));
    const group = days <= 0 ? "Today" : days === 1 ? "Yesterday" : days <= 7 ? "Previous 7 days" : "Older";
    groups.get(group)!.push(conversation);
  }
  return [...groups].filter(([, items]) => items.length > 0);
}
