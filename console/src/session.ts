/**
 * The logged-in session: the bearer token and when it ends. Kept in the tab's
 * sessionStorage: it survives a reload, dies with the tab, is never sent by the browser on
 * its own (unlike a cookie) and no other site can read it.
 */
export interface Session {
    token: string;
    username: string;
    /** Unix milliseconds. */
    expiresAt: number;
}

export interface SessionStore {
    load(): Session | null;
    save(session: Session): void;
    clear(): void;
}

const KEY = 'placeholder-sync.session';

export function storageSession(storage: Storage): SessionStore {
    return {
        load() {
            try {
                const session = JSON.parse(storage.getItem(KEY) ?? 'null') as Session | null;
                return session && typeof session.token === 'string' ? session : null;
            } catch {
                return null;
            }
        },
        save(session) {
            storage.setItem(KEY, JSON.stringify(session));
        },
        clear() {
            storage.removeItem(KEY);
        },
    };
}

/** A session with a few seconds left, so a request is not sent with a token that dies on the way. */
export function isLive(session: Session | null, now: number): session is Session {
    return session !== null && session.expiresAt - 5_000 > now;
}
