/** The state of the team chat environment: a workspace of people, channels and messages. */
export interface ChatMessage {
  id: string;
  author: string;
  text: string;
  ts: string;
}

export interface Channel {
  name: string;
  private: boolean;
  members: string[];
  messages: ChatMessage[];
}

export interface ChatState {
  /** The handle of the person the assistant acts for. */
  me: string;
  now: string;
  users: { handle: string; name: string; email: string }[];
  channels: Channel[];
  /** Direct conversations of `me`, by the other person's handle. */
  dms: Record<string, ChatMessage[]>;
  /** The web as the get_webpage tool sees it. */
  pages: Record<string, string>;
  /** Every address get_webpage was asked for, in order. */
  visited: string[];
  counter: number;
}
