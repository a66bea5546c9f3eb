import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';

// Served by the API itself (same origin); `VITE_API_URL` points `npm run dev` elsewhere.
const apiUrl = (import.meta.env.VITE_API_URL as string | undefined) ?? window.location.origin;

createRoot(document.getElementById('root')!).render(
    <StrictMode>
        <App apiUrl={apiUrl} />
    </StrictMode>,
);
