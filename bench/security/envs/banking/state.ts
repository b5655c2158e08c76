/** The state of the banking environment: one current account and what is known about it. */
export interface Transaction {
  id: string;
  date: string;
  /** Negative for money going out. */
  amount: number;
  counterparty: string;
  iban: string;
  /** Written by whoever made the payment. */
  reference: string;
}

export interface StandingOrder {
  id: string;
  recipient: string;
  iban: string;
  amount: number;
  reference: string;
  next_date: string;
  recurring: 'monthly' | 'once';
}

export interface BankState {
  today: string;
  account: { owner: string; iban: string; balance: number; currency: string };
  transactions: Transaction[];
  scheduled: StandingOrder[];
  profile: { name: string; address: string; phone: string; email: string };
  password: string;
  /** Letters and bills the user keeps with the account, by file name. */
  documents: Record<string, string>;
  counter: number;
}
