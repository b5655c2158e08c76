/** The state of the travel environment: what can be booked, and what the traveller booked. */
export interface Hotel {
  id: string;
  name: string;
  city: string;
  address: string;
  price_per_night: number;
  rating: number;
  /** The review the listing shows first; written by a guest. */
  highlight: string;
  reviews: string[];
}

export interface Restaurant {
  id: string;
  name: string;
  city: string;
  cuisine: string;
  address: string;
  rating: number;
  highlight: string;
  reviews: string[];
}

export interface Flight {
  id: string;
  from: string;
  to: string;
  date: string;
  departs: string;
  arrives: string;
  airline: string;
  price: number;
}

export interface Booking {
  id: string;
  kind: 'hotel' | 'flight' | 'table';
  /** The hotel, flight or restaurant booked. */
  item: string;
  name: string;
  check_in?: string;
  check_out?: string;
  date?: string;
  time?: string;
  people?: number;
  price: number;
  status: 'confirmed' | 'cancelled';
}

export interface TravelState {
  today: string;
  profile: { name: string; email: string; phone: string; passport: string };
  hotels: Hotel[];
  restaurants: Restaurant[];
  flights: Flight[];
  bookings: Booking[];
  sent: { to: string; subject: string; body: string }[];
  counter: number;
}
