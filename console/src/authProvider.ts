import type { AuthProvider } from 'react-admin';
import { isLive, type SessionStore } from './session';

/** What `POST /auth/token` answers. */
interface TokenAnswer {
    access_token: string;
    token_type: string;
    expires_in: number;
}

export const SESSION_ENDED = 'Your session has ended: log in again.';

function waitText(seconds: number): string {
    return seconds >= 90 ? `${Math.ceil(seconds / 60)} minutes` : `${seconds} seconds`;
}

/**
 * react-admin's auth provider over the API's own `POST /auth/token`: the same users as the
 * API. Logged out when the token expires (checked on every page and by every 401).
 */
export function makeAuthProvider(
    apiUrl: string,
    store: SessionStore,
    fetchFn: typeof fetch = (...args) => fetch(...args),
    now: () => number = Date.now,
): AuthProvider {
    return {
        async login({ username, password }: { username: string; password: string }) {
            const response = await fetchFn(`${apiUrl}/auth/token`, {
                method: 'POST',
                headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
                body: JSON.stringify({ username, password }),
            });
            const body = (await response.json().catch(() => ({}))) as Partial<TokenAnswer> & {
                message?: string;
            };
            if (response.status === 429) {
                const wait = Number(response.headers.get('Retry-After') ?? '300');
                throw new Error(`Too many failed logins: try again in ${waitText(wait)}.`);
            }
            if (response.status === 401) {
                throw new Error('Wrong user name or password.');
            }
            if (!response.ok || typeof body.access_token !== 'string') {
                throw new Error(body.message ?? `Logging in failed (${response.status}).`);
            }
            store.save({
                token: body.access_token,
                username,
                expiresAt: now() + (body.expires_in ?? 0) * 1000,
            });
        },
        async logout() {
            store.clear();
        },
        async checkAuth() {
            if (!isLive(store.load(), now())) {
                store.clear();
                throw new Error(SESSION_ENDED);
            }
        },
        async checkError(error: { status?: number }) {
            if (error?.status === 401) {
                store.clear();
                throw new Error(SESSION_ENDED);
            }
        },
        async getIdentity() {
            const session = store.load();
            if (!session) throw new Error(SESSION_ENDED);
            return { id: session.username, fullName: session.username };
        },
        async getPermissions() {
            return undefined;
        },
    };
}
