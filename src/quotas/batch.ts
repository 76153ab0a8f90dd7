/**
 * Lets the requests that arrive in the same event-loop turn (a client's burst, parsed together)
 * join a queue before its one Redis call goes out, so the call asks for all of them.
 */
export function batchArrivals(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
