import {
    CreateButton,
    Datagrid,
    DeleteButton,
    EditButton,
    List,
    NumberField,
    NumberInput,
    Pagination,
    ReferenceManyField,
    SearchInput,
    Show,
    ShowButton,
    SimpleForm,
    SimpleShowLayout,
    TextField,
    TextInput,
    TopToolbar,
    useRecordContext,
} from 'react-admin';
import { CreatePage, EditPage } from './forms';
import { EntitySyncPanel } from './sync/EntitySyncPanel';

const postFilters = [
    <SearchInput key="q" source="q" alwaysOn />,
    <NumberInput key="userId" source="userId" label="User id" />,
];

export function PostList() {
    return (
        <List filters={postFilters} sort={{ field: 'id', order: 'DESC' }} perPage={25}>
            <Datagrid rowClick="show" bulkActionButtons={false}>
                <NumberField source="id" />
                <TextField source="title" />
                <NumberField source="userId" label="User" />
                <EditButton />
            </Datagrid>
        </List>
    );
}

/**
 * No validation in the form: the API's own rules answer, and their messages land on the
 * field (one set of rules, the same for the console and every other client).
 */
function PostForm() {
    return (
        <SimpleForm>
            <TextInput source="title" fullWidth />
            <TextInput source="body" multiline fullWidth minRows={3} />
            <NumberInput source="userId" label="User id" />
        </SimpleForm>
    );
}

export function PostEdit() {
    return (
        <EditPage>
            <PostForm />
        </EditPage>
    );
}

export function PostCreate() {
    return (
        <CreatePage>
            <PostForm />
        </CreatePage>
    );
}

function AddComment() {
    const post = useRecordContext();
    if (!post) return null;
    return (
        <CreateButton
            resource="comments"
            label="Add a comment"
            state={{ record: { postId: post.id } }}
            data-testid="add-comment"
        />
    );
}

function PostShowActions() {
    return (
        <TopToolbar>
            <EditButton />
            <DeleteButton mutationMode="pessimistic" />
        </TopToolbar>
    );
}

export function PostShow() {
    return (
        <Show actions={<PostShowActions />}>
            <SimpleShowLayout>
                <NumberField source="id" />
                <TextField source="title" />
                <TextField source="body" />
                <NumberField source="userId" label="User" />
                <EntitySyncPanel />
                <ReferenceManyField
                    label="Comments"
                    reference="comments"
                    target="postId"
                    sort={{ field: 'id', order: 'ASC' }}
                    perPage={10}
                    pagination={<Pagination />}
                >
                    <AddComment />
                    <Datagrid bulkActionButtons={false} rowClick="show">
                        <NumberField source="id" />
                        <TextField source="name" />
                        <TextField source="email" />
                        <ShowButton />
                        <DeleteButton mutationMode="pessimistic" redirect={false} />
                    </Datagrid>
                </ReferenceManyField>
            </SimpleShowLayout>
        </Show>
    );
}
