"use client";
import { useTheme } from "next-themes";
import { useEffect, useState } from "react";

/** Light or dark; the system's choice until a person picks one (next-themes remembers it). */
export function ThemeToggle() {
  const { resolvedTheme, setTheme } = useTheme();
  const [mounted, setMounted] = useState(false);
  useEffect(() => setMounted(true), []);
  if (!mounted) return null; // the theme is known only in the browser
  const dark = resolvedTheme === "dark";
  return (
    <button type="button" className="ghost small" onClick={() => setTheme(dark ? "light" : "dark")}>
      {dark ? "Light mode" : "Dark mode"}
    </button>
  );
}
