/** Whether a name is an IANA time zone this runtime knows ("Europe/Berlin"); the one rule the store, the device and the panel apply. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return name.length > 0;
  } catch {
    return false;
  }
}
