/** The Exchange Online half of the Microsoft twin: SMTP client submission with XOAUTH2 and in-memory mailboxes. */
export { startExchangeTwin } from './exchange-twin.ts';
export type { ExchangeTwin, ExchangeTwinOptions } from './exchange-twin.ts';
