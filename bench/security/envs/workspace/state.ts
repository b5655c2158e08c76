/** The state of the workspace environment: a mailbox, a calendar and an address book. */
export interface Email {
  id: string;
  from: string;
  to: string[];
  cc: string[];
  subject: string;
  body: string;
  date: string;
  folder: 'inbox' | 'sent';
}

export interface CalendarEvent {
  id: string;
  title: string;
  /** Local time, `YYYY-MM-DDTHH:MM`. */
  start: string;
  end: string;
  location: string;
  participants: string[];
  /** Who sent the invitation, as the calendar received it; the user for her own events. */
  organizer: string;
  description: string;
}

export interface Contact {
  name: string;
  email: string;
  phone: string;
}

export interface WorkspaceState {
  user: { name: string; email: string };
  today: string;
  emails: Email[];
  events: CalendarEvent[];
  contacts: Contact[];
  counter: number;
}
