import { Route } from 'react-router-dom';
import {
    Admin,
    CustomRoutes,
    Layout,
    Menu,
    Resource,
    fetchUtils,
    type LayoutProps,
} from 'react-admin';
import jsonServerProvider from 'ra-data-json-server';
import SyncIcon from '@mui/icons-material/Sync';
import ArticleIcon from '@mui/icons-material/Article';
import CommentIcon from '@mui/icons-material/Comment';
import { makeAuthProvider } from './authProvider';
import { SyncApiContext } from './context';
import { makeHttpClient } from './httpClient';
import { storageSession, type SessionStore } from './session';
import { makeSyncApi } from './syncApi';
import { PostCreate, PostEdit, PostList, PostShow } from './posts';
import { CommentCreate, CommentEdit, CommentList, CommentShow } from './comments';
import { SyncDashboard } from './sync/SyncDashboard';
import { SessionTimer } from './SessionTimer';

function ConsoleMenu() {
    return (
        <Menu>
            <Menu.Item to="/sync" primaryText="Sync" leftIcon={<SyncIcon />} />
            <Menu.ResourceItems />
        </Menu>
    );
}

function makeLayout(store: SessionStore) {
    return function ConsoleLayout({ children }: LayoutProps) {
        return (
            <Layout menu={ConsoleMenu}>
                <SessionTimer store={store} />
                {children}
            </Layout>
        );
    };
}

export function App({ apiUrl, store = storageSession(window.sessionStorage) }: { apiUrl: string; store?: SessionStore }) {
    const httpClient = makeHttpClient(store, fetchUtils.fetchJson);
    // react-admin's stock json-server provider, unchanged: the API speaks json-server.
    const dataProvider = jsonServerProvider(apiUrl, httpClient);
    const authProvider = makeAuthProvider(apiUrl, store);
    const syncApi = makeSyncApi(apiUrl, httpClient);
    return (
        <SyncApiContext.Provider value={syncApi}>
            <Admin
                title="placeholder-sync"
                dataProvider={dataProvider}
                authProvider={authProvider}
                dashboard={SyncDashboard}
                layout={makeLayout(store)}
                requireAuth
                disableTelemetry
            >
                <Resource
                    name="posts"
                    icon={ArticleIcon}
                    list={PostList}
                    show={PostShow}
                    edit={PostEdit}
                    create={PostCreate}
                    recordRepresentation="title"
                />
                <Resource
                    name="comments"
                    icon={CommentIcon}
                    list={CommentList}
                    show={CommentShow}
                    edit={CommentEdit}
                    create={CommentCreate}
                    recordRepresentation="name"
                />
                <CustomRoutes>
                    <Route path="/sync" element={<SyncDashboard />} />
                </CustomRoutes>
            </Admin>
        </SyncApiContext.Provider>
    );
}
