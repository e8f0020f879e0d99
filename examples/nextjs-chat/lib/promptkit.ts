// A typed client for the promptkit HTTP API. The browser calls promptkit directly; every
// request carries `Authorization: Bearer <token>` from whichever sign-in is configured.

export type Project = {
  id: string;
  name: string;
  created_at: string;
  updated_at: string;
  /** The tools its chats may call (tools issue); absent from a promptkit without tools. */
  tools?: string[];
};

/** A tool that projects may enable (`GET /tools`). */
export type ToolInfo = { name: string; description: string; input_schema: Record<string, unknown> };

export type Prompt = {
  id: string;
  project_id: string;
  name: string;
  content: string;
  is_active: boolean;
  /** The number of its newest version. */
  version: number;
  created_at: string;
  updated_at: string;
};

/** One immutable version of a prompt's content. */
export type PromptVersion = {
  prompt_id: string;
  version: number;
  content: string;
  created_at: string;
  created_by: string;
};

export type Conversation = {
  id: string;
  project_id: string;
  title: string;
  created_at: string;
  updated_at: string;
};

export type Message = {
  id: string;
  conversation_id: string;
  role: "user" | "assistant";
  content: string;
  status: "complete" | "partial" | "error";
  model: string | null;
  usage: { prompt_tokens: number; completion_tokens: number } | null;
  /** On a reply: the prompt version that was its system message. */
  prompt?: MessagePrompt | null;
  /** The AI SDK UIMessage parts the stream built (tools issue): text, reasoning, `tool-<name>`.
   * Absent or empty from a promptkit without tools: then `content` is the text. */
  parts?: StoredPart[];
  /** The message it follows (branches issue): null for a first message. */
  parent_id?: string | null;
  /** Its place among its versions, the messages with the same parent (edits, regenerations):
   * in the lists of messages, absent from a promptkit without branches. */
  branch?: BranchPlace;
  created_at: string;
};

export type BranchPlace = { index: number; count: number };

/** A stored UIMessage part, as loose as JSON: the chat view narrows it to the AI SDK's types. */
export type StoredPart = { type: string; [field: string]: unknown };

/** One of `GET /models` (models issue). */
export type Model = {
  id: string;
  display_name: string;
  provider: string;
  aliases?: string[];
  capabilities: { streaming: boolean; tools: boolean; reasoning: boolean; attachments: string[] };
  context_window?: number | null;
  default: boolean;
};

export type MessagePrompt = { id: string; version: number; variables: Record<string, string> };

export type StoredFile = {
  id: string;
  project_id: string;
  filename: string;
  size_bytes: number;
  content_type: string;
  provider_file_id: string;
  created_at: string;
};

type Page<T> = { data: T[]; next_cursor: string | null };

/** One token budget's current window. */
export type BudgetWindow = {
  window: string | null;
  limit: number | null;
  used: number;
  /** The worst cases of replies still streaming. */
  reserved: number;
  remaining: number | null;
  resets_at: string | null;
  by_model: Record<string, number>;
};

/** The caller's tokens in the current budget window (`GET /usage`, models issue), and the active
 * organization's, shared by its members, when it has a budget. */
export type Usage = BudgetWindow & { organization?: BudgetWindow | null };

/** One hit of `GET /search`: the conversation, the matching message (if any) and where it matched. */
export type SearchHit = {
  conversation: Conversation;
  message_id: string | null;
  snippet: string;
  highlights: [number, number][];
};

export type GetToken = () => Promise<string | null>;

/** An answer in promptkit's error shape `{"error": {"code", "message"}}`. */
export class PromptkitError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What a person reads when the browser cannot reach promptkit at all (fetch's TypeError). */
export function unreachable(baseUrl: string): string {
  return `Can't reach the promptkit server at ${baseUrl}. Check that it is running, then retry.`;
}

export async function authHeaders(getToken: GetToken): Promise<Record<string, string>> {
  const token = await getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export function createPromptkit(baseUrl: string, getToken: GetToken) {
  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers = await authHeaders(getToken);
    let payload: BodyInit | undefined;
    if (body instanceof FormData) {
      payload = body; // fetch sets the multipart boundary itself
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let response: Response;
    try {
      response = await fetch(`${baseUrl}${path}`, { method, headers, body: payload });
    } catch {
      throw new PromptkitError(0, "unreachable", unreachable(baseUrl));
    }
    if (response.status === 204) return undefined as T;
    const json = await response.json().catch(() => null);
    if (!response.ok) {
      const error = json?.error ?? {};
      throw new PromptkitError(
        response.status,
        error.code ?? "http_error",
        error.message ?? `promptkit answered ${response.status}`,
      );
    }
    return json as T;
  }

  // One page of up to 100 is plenty for an example; `allPages` follows the cursor where the
  // whole list matters (a conversation's history).
  const firstPage = async <T,>(path: string) => (await request<Page<T>>("GET", path)).data;

  async function allPages<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page: Page<T> = await request<Page<T>>("GET", `${path}?limit=100${query}`);
      items.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor);
    return items;
  }

  const id = encodeURIComponent;
  return {
    chatUrl: `${baseUrl}/chat`,

    listProjects: () => firstPage<Project>("/projects?limit=100"),
    getProject: (projectId: string) => request<Project>("GET", `/projects/${id(projectId)}`),
    createProject: (name: string) => request<Project>("POST", "/projects", { name }),
    deleteProject: (projectId: string) => request<void>("DELETE", `/projects/${id(projectId)}`),
    /** Chooses the tools the project's chats may call (names from `listTools`). */
    setProjectTools: (projectId: string, tools: string[]) =>
      request<Project>("PATCH", `/projects/${id(projectId)}`, { tools }),
    /** The tools projects may enable; null where promptkit has no `GET /tools` (404). */
    listTools: async () => {
      try {
        return (await request<{ data: ToolInfo[] }>("GET", "/tools")).data;
      } catch (error) {
        if (error instanceof PromptkitError && error.status === 404) return null;
        throw error;
      }
    },

    listPrompts: (projectId: string) =>
      firstPage<Prompt>(`/projects/${id(projectId)}/prompts?limit=100`),
    createPrompt: (projectId: string, prompt: { name: string; content: string; is_active: boolean }) =>
      request<Prompt>("POST", `/projects/${id(projectId)}/prompts`, prompt),
    updatePrompt: (promptId: string, changes: { name?: string; content?: string }) =>
      request<Prompt>("PATCH", `/prompts/${id(promptId)}`, changes),
    activatePrompt: (promptId: string) =>
      request<Prompt>("POST", `/prompts/${id(promptId)}/activate`),
    deletePrompt: (promptId: string) => request<void>("DELETE", `/prompts/${id(promptId)}`),
    /** Every version of a prompt, newest first. */
    listPromptVersions: (promptId: string) =>
      allPages<PromptVersion>(`/prompts/${id(promptId)}/versions`),
    /** Makes version n the content again, as a new version. */
    restorePromptVersion: (promptId: string, version: number) =>
      request<Prompt>("POST", `/prompts/${id(promptId)}/versions/${version}/restore`),

    listConversations: (projectId: string) =>
      firstPage<Conversation>(`/projects/${id(projectId)}/conversations?limit=100`),
    createConversation: (projectId: string, title: string) =>
      request<Conversation>("POST", `/projects/${id(projectId)}/conversations`, { title }),
    getConversation: (conversationId: string) =>
      request<Conversation>("GET", `/conversations/${id(conversationId)}`),
    renameConversation: (conversationId: string, title: string) =>
      request<Conversation>("PATCH", `/conversations/${id(conversationId)}`, { title }),
    deleteConversation: (conversationId: string) =>
      request<void>("DELETE", `/conversations/${id(conversationId)}`),
    /** Conversations matching `q`; an empty list where promptkit has no search route (404). */
    search: async (projectId: string, q: string) => {
      try {
        const query = `q=${id(q)}&project_id=${id(projectId)}`;
        return (await request<Page<SearchHit>>("GET", `/search?${query}`)).data;
      } catch (error) {
        if (error instanceof PromptkitError && error.status === 404) return [];
        throw error;
      }
    },
    /** The models promptkit offers; empty where it has no `GET /models` (404) or lists none:
     * the picker is then a free-text field. */
    listModels: async () => {
      try {
        return (await request<{ data: Model[] }>("GET", "/models")).data;
      } catch (error) {
        if (error instanceof PromptkitError && error.status === 404) return [];
        throw error;
      }
    },
    /** The caller's budget, or null where promptkit has no `GET /usage` yet (404). */
    getUsage: async () => {
      try {
        return await request<Usage>("GET", "/usage");
      } catch (error) {
        if (error instanceof PromptkitError && error.status === 404) return null;
        throw error;
      }
    },
    /** Stops the reply in flight wherever it runs, stored as partial (`POST /chat/{id}/stop`,
     * resume issue): the stored Message (`partial`), or undefined (204) when nothing was in flight
     * or nothing was stored yet: the reply may have ended meanwhile, so read the messages again. */
    stopChat: (conversationId: string) =>
      request<Message | undefined>("POST", `/chat/${id(conversationId)}/stop`),
    listMessages: (conversationId: string) =>
      allPages<Message>(`/conversations/${id(conversationId)}/messages`),
    /** Every message of the conversation, every branch, oldest first (`GET .../tree`). */
    listTree: (conversationId: string) =>
      allPages<Message>(`/conversations/${id(conversationId)}/tree`),
    /** Makes the branch through a message current, down to its newest reply. */
    switchBranch: (conversationId: string, messageId: string) =>
      request<Conversation>("POST", `/conversations/${id(conversationId)}/branch`, {
        message_id: messageId,
      }),

    listFiles: (projectId: string) =>
      firstPage<StoredFile>(`/projects/${id(projectId)}/files?limit=100`),
    uploadFile: (projectId: string, file: File) => {
      const form = new FormData();
      form.append("file", file);
      return request<StoredFile>("POST", `/projects/${id(projectId)}/files`, form);
    },
    deleteFile: (fileId: string) => request<void>("DELETE", `/files/${id(fileId)}`),
    /** A file's bytes (`GET /files/{id}/content`, or the URL a message's file part holds), as
     * a blob the page can open: the route wants the bearer token, which a plain link lacks. */
    fileBlob: async (url: string) => {
      if (url.startsWith("data:")) return await (await fetch(url)).blob();
      let response: Response;
      try {
        response = await fetch(`${baseUrl}${url}`, { headers: await authHeaders(getToken) });
      } catch {
        throw new PromptkitError(0, "unreachable", unreachable(baseUrl));
      }
      if (!response.ok) {
        const error = (await response.json().catch(() => null))?.error ?? {};
        throw new PromptkitError(response.status, error.code ?? "http_error", error.message ?? `promptkit answered ${response.status}`);
      }
      return await response.blob();
    },
  };
}

export type Promptkit = ReturnType<typeof createPromptkit>;
