import { describe, expect, it } from 'vitest';
import { makeAuthProvider, SESSION_ENDED } from './authProvider';
import type { Session, SessionStore } from './session';

function memoryStore(initial: Session | null = null): SessionStore & { current: Session | null } {
    const store = {
        current: initial,
        load: () => store.current,
        save: (s: Session) => {
            store.current = s;
        },
        clear: () => {
            store.current = null;
        },
    };
    return store;
}

function answer(status: number, body: unknown, headers: Record<string, string> = {}) {
    return async () => new Response(JSON.stringify(body), { status, headers });
}

describe('the auth provider', () => {
    it('keeps the token and when it expires', async () => {
        const store = memoryStore();
        const auth = makeAuthProvider(
            'http://api',
            store,
            answer(200, { access_token: 'abc', token_type: 'Bearer', expires_in: 3600 }),
            () => 1_000,
        );
        await auth.login({ username: 'demo', password: 'pw' });
        expect(store.current).toEqual({ token: 'abc', username: 'demo', expiresAt: 3_601_000 });
        await expect(auth.getIdentity!()).resolves.toEqual({ id: 'demo', fullName: 'demo' });
    });

    it('says a wrong password plainly and keeps nothing', async () => {
        const store = memoryStore();
        const auth = makeAuthProvider('http://api', store, answer(401, { message: 'invalid username or password' }));
        await expect(auth.login({ username: 'demo', password: 'no' })).rejects.toThrow('Wrong user name or password.');
        expect(store.current).toBeNull();
    });

    it('tells how long to wait when logins are throttled', async () => {
        const auth = makeAuthProvider(
            'http://api',
            memoryStore(),
            answer(429, { message: 'too many failed logins' }, { 'Retry-After': '240' }),
        );
        await expect(auth.login({ username: 'demo', password: 'no' })).rejects.toThrow(
            'Too many failed logins: try again in 4 minutes.',
        );
    });

    it('logs out when the token has expired', async () => {
        let now = 0;
        const store = memoryStore({ token: 't', username: 'demo', expiresAt: 60_000 });
        const auth = makeAuthProvider('http://api', store, answer(500, {}), () => now);
        await expect(auth.checkAuth({})).resolves.toBeUndefined();
        now = 56_000; // within the last five seconds: not worth sending
        await expect(auth.checkAuth({})).rejects.toThrow(SESSION_ENDED);
        expect(store.current).toBeNull();
    });

    it('logs out on a 401 and only then', async () => {
        const store = memoryStore({ token: 't', username: 'demo', expiresAt: Date.now() + 60_000 });
        const auth = makeAuthProvider('http://api', store);
        await expect(auth.checkError({ status: 412 })).resolves.toBeUndefined();
        await expect(auth.checkError({ status: 403 })).resolves.toBeUndefined();
        expect(store.current).not.toBeNull();
        await expect(auth.checkError({ status: 401 })).rejects.toThrow(SESSION_ENDED);
        expect(store.current).toBeNull();
    });
});
