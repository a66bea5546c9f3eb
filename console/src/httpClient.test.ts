import { describe, expect, it } from 'vitest';
import { HttpError } from 'react-admin';
import { CHANGED_MEANWHILE, explain, makeHttpClient, recordPath } from './httpClient';
import { makeSyncApi, outcomeText, progress, type SyncStatus } from './syncApi';
import type { SessionStore } from './session';

const session: SessionStore = {
    load: () => ({ token: 'tok', username: 'demo', expiresAt: Date.now() + 60_000 }),
    save: () => {},
    clear: () => {},
};

interface Sent {
    url: string;
    method: string;
    headers: Headers;
}

/** A fetchJson double: records what was sent, answers with the ETag given. */
function recorder(etag: string | null, fail?: HttpError) {
    const sent: Sent[] = [];
    const fetchJson = async (url: string, options: { method?: string; headers?: unknown } = {}) => {
        sent.push({ url, method: options.method ?? 'GET', headers: options.headers as Headers });
        if (fail) throw fail;
        const headers = new Headers(etag ? { ETag: etag } : {});
        return { status: 200, headers, body: '{}', json: {} };
    };
    return { sent, fetchJson };
}

describe('the HTTP client given to ra-data-json-server', () => {
    it('sends the token on every request', async () => {
        const { sent, fetchJson } = recorder(null);
        await makeHttpClient(session, fetchJson as never)('http://api/posts?_start=0&_end=10');
        expect(sent[0].headers.get('Authorization')).toBe('Bearer tok');
    });

    it("guards a save with the version it read, and only that record's", async () => {
        const { sent, fetchJson } = recorder('"3"');
        const http = makeHttpClient(session, fetchJson as never);
        await http('http://api/posts/5');
        await http('http://api/posts/5', { method: 'PUT', body: '{}' });
        await http('http://api/posts/6', { method: 'PUT', body: '{}' });
        expect(sent[1].headers.get('If-Match')).toBe('"3"');
        expect(sent[2].headers.get('If-Match')).toBeNull();
    });

    it('never guards with a weak tag (a list or embed tag is not a version)', async () => {
        const { sent, fetchJson } = recorder('W/"abc"');
        const http = makeHttpClient(session, fetchJson as never);
        await http('http://api/posts/5');
        await http('http://api/posts/5', { method: 'PUT', body: '{}' });
        expect(sent[1].headers.get('If-Match')).toBeNull();
    });

    it('turns a lost If-Match race into "changed meanwhile"', async () => {
        const { fetchJson } = recorder(null, new HttpError('precondition failed', 412, { message: 'x' }));
        const http = makeHttpClient(session, fetchJson as never);
        await expect(http('http://api/posts/5', { method: 'PUT' })).rejects.toMatchObject({
            status: 412,
            message: CHANGED_MEANWHILE,
        });
    });

    it("puts the API's field errors under each field, as react-admin shows them", () => {
        const error = explain(
            new HttpError('validation failed', 400, {
                message: 'validation failed',
                errors: { title: ['must not be blank'], userId: ['must be a whole number', 'must be from 1'] },
            }),
        ) as HttpError;
        expect(error.body.errors).toEqual({
            title: 'must not be blank',
            userId: 'must be a whole number; must be from 1',
        });
        expect(error.status).toBe(400);
    });

    it('knows a record from a list or a nested route', () => {
        expect(recordPath('http://api/posts/5')).toBe('/posts/5');
        expect(recordPath('http://api/comments/12?x=1')).toBe('/comments/12');
        expect(recordPath('http://api/posts')).toBeNull();
        expect(recordPath('http://api/posts/5/comments')).toBeNull();
    });
});

describe('the sync API', () => {
    it('asks for one entity by the collection name', async () => {
        const { sent, fetchJson } = recorder(null);
        const api = makeSyncApi('http://api', makeHttpClient(session, fetchJson as never));
        await api.entity('comments', 7);
        await api.redrive({ entity: 'post', id: 5 });
        expect(sent.map((s) => `${s.method} ${s.url}`)).toEqual([
            'GET http://api/sync/entities/comments/7',
            'POST http://api/sync/redrive?entity=post&id=5',
        ]);
    });

    it("measures a run's progress by the work that is gone", () => {
        const status = (pending: number, queued: number, inFlight = 0): SyncStatus => ({
            queue: { queued, inFlight, deadLettered: 0, captureFailed: 0 },
            entities: { local: 100, pending, failed: 0, parked: 0, waiting: 0 },
            lastRun: null,
            running: false,
            runningUntil: null,
            detailed: true,
        });
        expect(progress(status(10, 10), status(5, 5))).toBe(0.5);
        expect(progress(status(10, 10), status(0, 0))).toBe(1);
        expect(progress(status(0, 0), status(3, 0))).toBeNull();
        expect(progress(status(4, 0), status(8, 0))).toBe(0);
        expect(progress(undefined, status(1, 1))).toBeNull();
    });
});

describe('a run\'s outcome', () => {
    it('is said for each outcome the sync reports (as its report spells them)', () => {
        expect(outcomeText('remote_unavailable')).toBe('stopped: the remote did not answer');
        expect(outcomeText('budget_spent')).toMatch(/time budget/);
        expect(outcomeText('completed')).toBe('completed');
    });
});
