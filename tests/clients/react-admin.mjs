// react-admin's own data provider for json-server (ra-data-json-server), driven as an admin
// app would drive it: every data-provider method, for posts and for comments, with a bearer
// token. The same script must pass against json-server 0.17 (what JSONPlaceholder runs) and
// against placeholder-sync: that is what "drop-in" means.
//
//   node tests/clients/react-admin.mjs <api-url> [<bearer-token>]
//
// It only touches records it creates (their titles and names carry a unique marker), so it
// runs against a stack that holds other data. Exit 0 when every check holds.
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

// Installed by infra/local/install-tools.sh from this folder's package-lock.json.
const require = createRequire(import.meta.url);
const modules = process.env.RA_NODE_MODULES ?? new URL('../../.tools/clients/node_modules', import.meta.url).pathname;
const load = name => require(require.resolve(name, { paths: [modules] }));
const jsonServerProvider = load('ra-data-json-server').default ?? load('ra-data-json-server');
const { fetchUtils } = load('ra-core');

const [apiUrl, token] = process.argv.slice(2);
if (!apiUrl) {
    console.error('usage: react-admin.mjs <api-url> [<bearer-token>]');
    process.exit(2);
}
const httpClient = (url, options = {}) =>
    fetchUtils.fetchJson(url, token ? { ...options, user: { authenticated: true, token: `Bearer ${token}` } } : options);
const dp = jsonServerProvider(apiUrl, httpClient);

const marker = `ra${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`;
const USER = 99999942; // the user every post created through placeholder-sync belongs to
let checks = 0;
const check = async (name, fn) => {
    try {
        await fn();
        checks += 1;
    } catch (e) {
        console.error(`FAILED ${name}: ${e.stack ?? e}`);
        process.exit(1);
    }
};
const ids = records => records.map(r => r.id);

// ---- posts ----
const posts = {};
await check('posts: create', async () => {
    for (const letter of ['c', 'a', 'b']) {
        const data = { userId: USER, title: `${marker} ${letter}`, body: `body ${letter}` };
        const { data: created } = await dp.create('posts', { data });
        assert.equal(typeof created.id, 'number');
        assert.deepEqual({ ...created, id: undefined }, { ...data, id: undefined });
        posts[letter] = created;
    }
});
await check('posts: getList with a filter, sort and page', async () => {
    const { data, total } = await dp.getList('posts', {
        filter: { title_like: marker },
        sort: { field: 'title', order: 'ASC' },
        pagination: { page: 1, perPage: 2 },
    });
    assert.equal(total, 3);
    assert.deepEqual(ids(data), [posts.a.id, posts.b.id]);
});
await check('posts: getList with q, by id descending, second page', async () => {
    const { data, total } = await dp.getList('posts', {
        filter: { q: marker },
        sort: { field: 'id', order: 'DESC' },
        pagination: { page: 2, perPage: 2 },
    });
    assert.equal(total, 3);
    assert.deepEqual(ids(data), [posts.c.id]);
});
await check('posts: getList of a user, paged by the index', async () => {
    const { data, total } = await dp.getList('posts', {
        filter: { userId: USER },
        sort: { field: 'id', order: 'DESC' },
        pagination: { page: 1, perPage: 1 },
    });
    assert.ok(total >= 3);
    assert.equal(data.length, 1);
    assert.ok(data[0].id >= posts.b.id);
});
await check('posts: getOne', async () => {
    const { data } = await dp.getOne('posts', { id: posts.a.id });
    assert.deepEqual(data, posts.a);
});
await check('posts: getMany', async () => {
    const { data } = await dp.getMany('posts', { ids: [posts.c.id, posts.a.id] });
    assert.deepEqual(ids(data).sort((x, y) => x - y), [posts.a.id, posts.c.id].sort((x, y) => x - y));
});
await check('posts: update (the whole record, sent back)', async () => {
    const edited = { ...posts.a, title: `${marker} a2` };
    const { data } = await dp.update('posts', { id: posts.a.id, data: edited, previousData: posts.a });
    assert.deepEqual(data, edited);
    posts.a = edited;
});
await check('posts: updateMany', async () => {
    const data = { userId: USER, title: `${marker} same`, body: 'same body' };
    const { data: updated } = await dp.updateMany('posts', { ids: [posts.b.id, posts.c.id], data });
    assert.deepEqual(updated, [posts.b.id, posts.c.id]);
    const { data: after } = await dp.getMany('posts', { ids: [posts.b.id, posts.c.id] });
    for (const p of after) assert.equal(p.title, `${marker} same`);
});

// ---- comments (on post a) ----
const comments = [];
await check('comments: create', async () => {
    for (const name of ['y', 'x', 'z']) {
        const data = { postId: posts.a.id, name: `${marker} ${name}`, email: `${name}@example.com`, body: `comment ${name}` };
        const { data: created } = await dp.create('comments', { data });
        assert.equal(typeof created.id, 'number');
        assert.equal(created.postId, posts.a.id);
        comments.push(created);
    }
});
await check('comments: getManyReference (a post\'s comments), sorted and paged', async () => {
    const { data, total } = await dp.getManyReference('comments', {
        target: 'postId',
        id: posts.a.id,
        filter: {},
        sort: { field: 'name', order: 'DESC' },
        pagination: { page: 1, perPage: 2 },
    });
    assert.equal(total, 3);
    assert.deepEqual(data.map(c => c.name), [`${marker} z`, `${marker} y`]);
});
await check('comments: getList with filters', async () => {
    const { data, total } = await dp.getList('comments', {
        filter: { postId: posts.a.id, email_like: '^x@' },
        sort: { field: 'id', order: 'ASC' },
        pagination: { page: 1, perPage: 10 },
    });
    assert.equal(total, 1);
    assert.equal(data[0].name, `${marker} x`);
});
await check('comments: getOne and getMany', async () => {
    const { data } = await dp.getOne('comments', { id: comments[0].id });
    assert.deepEqual(data, comments[0]);
    const { data: many } = await dp.getMany('comments', { ids: ids(comments) });
    assert.equal(many.length, 3);
});
await check('comments: update and updateMany', async () => {
    const edited = { ...comments[0], body: 'edited' };
    const { data } = await dp.update('comments', { id: edited.id, data: edited, previousData: comments[0] });
    assert.deepEqual(data, edited);
    const same = { postId: posts.a.id, name: `${marker} same`, email: 'same@example.com', body: 'same' };
    const { data: updated } = await dp.updateMany('comments', { ids: [comments[1].id, comments[2].id], data: same });
    assert.deepEqual(updated, [comments[1].id, comments[2].id]);
});
await check('comments: delete and deleteMany', async () => {
    await dp.delete('comments', { id: comments[0].id, previousData: comments[0] });
    await dp.deleteMany('comments', { ids: [comments[1].id] });
    const { total } = await dp.getManyReference('comments', {
        target: 'postId', id: posts.a.id, filter: {},
        sort: { field: 'id', order: 'ASC' }, pagination: { page: 1, perPage: 10 },
    });
    assert.equal(total, 1);
});

// ---- deleting posts (and, with them, their comments) ----
await check('posts: delete and deleteMany', async () => {
    await dp.delete('posts', { id: posts.c.id, previousData: posts.c });
    await dp.deleteMany('posts', { ids: [posts.a.id, posts.b.id] });
    const { total } = await dp.getList('posts', {
        filter: { title_like: marker }, sort: { field: 'id', order: 'ASC' }, pagination: { page: 1, perPage: 10 },
    });
    assert.equal(total, 0);
    const { total: left } = await dp.getList('comments', {
        filter: { postId: posts.a.id }, sort: { field: 'id', order: 'ASC' }, pagination: { page: 1, perPage: 10 },
    });
    assert.equal(left, 0, 'a deleted post takes its comments');
});
await check('a missing record is an error, not data', async () => {
    await assert.rejects(dp.getOne('posts', { id: posts.a.id }), e => e.status === 404);
});

console.log(`react-admin data provider: ${checks} checks passed against ${apiUrl}`);
