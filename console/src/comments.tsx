import {
    Datagrid,
    DeleteButton,
    EditButton,
    List,
    NumberField,
    ReferenceField,
    SearchInput,
    Show,
    SimpleForm,
    SimpleShowLayout,
    TextField,
    TextInput,
    TopToolbar,
    type RedirectionSideEffect,
} from 'react-admin';
import { CreatePage, EditPage, PostPicker } from './forms';
import { EntitySyncPanel } from './sync/EntitySyncPanel';

const commentFilters = [
    <SearchInput key="q" source="q" alwaysOn />,
    <PostPicker key="postId" source="postId" />,
];

export function CommentList() {
    return (
        <List filters={commentFilters} sort={{ field: 'id', order: 'DESC' }} perPage={25}>
            <Datagrid rowClick="show" bulkActionButtons={false}>
                <NumberField source="id" />
                <ReferenceField source="postId" reference="posts" link="show">
                    <TextField source="title" />
                </ReferenceField>
                <TextField source="name" />
                <TextField source="email" />
                <EditButton />
            </Datagrid>
        </List>
    );
}

/** As for posts: the API validates, its messages land on the fields. */
function CommentForm() {
    return (
        <SimpleForm>
            <PostPicker />
            <TextInput source="name" fullWidth />
            <TextInput source="email" fullWidth />
            <TextInput source="body" multiline fullWidth minRows={3} />
        </SimpleForm>
    );
}

/** Back to the post the comment belongs to: where it was added from. */
const toItsPost: RedirectionSideEffect = (_resource, _id, data) =>
    data?.postId != null ? `posts/${data.postId}/show` : 'comments';

export function CommentEdit() {
    return (
        <EditPage>
            <CommentForm />
        </EditPage>
    );
}

export function CommentCreate() {
    return (
        <CreatePage redirect={toItsPost}>
            <CommentForm />
        </CreatePage>
    );
}

export function CommentShow() {
    return (
        <Show
            actions={
                <TopToolbar>
                    <EditButton />
                    <DeleteButton mutationMode="pessimistic" />
                </TopToolbar>
            }
        >
            <SimpleShowLayout>
                <NumberField source="id" />
                <ReferenceField source="postId" reference="posts" link="show">
                    <TextField source="title" />
                </ReferenceField>
                <TextField source="name" />
                <TextField source="email" />
                <TextField source="body" />
                <EntitySyncPanel />
            </SimpleShowLayout>
        </Show>
    );
}
