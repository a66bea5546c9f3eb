import type { ReactElement } from 'react';
import {
    AutocompleteInput,
    Create,
    Edit,
    ReferenceInput,
    type RedirectionSideEffect,
} from 'react-admin';

/**
 * Posts and comments are edited alike: a save waits for the API's answer (so its field
 * errors and a lost If-Match race show on the form, not after an undo delay), then shows
 * the record.
 */
export function EditPage({ children }: { children: ReactElement }) {
    return (
        <Edit mutationMode="pessimistic" redirect="show">
            {children}
        </Edit>
    );
}

export function CreatePage({
    children,
    redirect = 'show',
}: {
    children: ReactElement;
    redirect?: RedirectionSideEffect;
}) {
    return <Create redirect={redirect}>{children}</Create>;
}

/**
 * Choosing a post by its title (the API's `q` search), for a comment's `postId`. As a list
 * filter, react-admin reads `source` off the element and passes its own props through.
 */
export function PostPicker({ source = 'postId', ...rest }: { source?: string; alwaysOn?: boolean }) {
    return (
        <ReferenceInput source={source} reference="posts" {...rest}>
            <AutocompleteInput label="Post" optionText="title" filterToQuery={(q) => ({ q })} />
        </ReferenceInput>
    );
}
