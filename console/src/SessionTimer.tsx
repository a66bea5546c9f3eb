import { useEffect } from 'react';
import { useLogout, useNotify } from 'react-admin';
import { SESSION_ENDED } from './authProvider';
import type { SessionStore } from './session';

/** Logs out the moment the token expires, not at the next click. */
export function SessionTimer({ store }: { store: SessionStore }) {
    const logout = useLogout();
    const notify = useNotify();
    const session = store.load();
    const expiresAt = session?.expiresAt;
    useEffect(() => {
        if (expiresAt == null) return;
        const timer = window.setTimeout(
            () => {
                notify(SESSION_ENDED, { type: 'warning' });
                logout();
            },
            Math.max(0, expiresAt - Date.now() - 5_000),
        );
        return () => window.clearTimeout(timer);
    }, [expiresAt, logout, notify]);
    return null;
}
